import type { RequestContext } from '../../auth/request-context.js';
import { CertificateNotFoundError, CertificateRetrievalError, type KeyManager } from '../key-manager.js';

export interface BarbicanOptions {
  /** `[barbican] barbican_endpoint`; null: the key-manager endpoint of the caller's catalog. */
  readonly endpoint: string | null;
  /** Keystone, to read the caller's catalog when no endpoint is configured. */
  readonly authUrl: string | null;
  readonly apiVersion: string;
  readonly timeoutMs?: number;
}

/**
 * Certificates from a real Barbican, fetched with the caller's own token as castellan does
 * (reference §7), so Barbican's per-project rules decide what the caller may use.
 */
export class BarbicanKeyManager implements KeyManager {
  constructor(private readonly options: BarbicanOptions) {}

  async getCertificate(context: RequestContext, id: string): Promise<Buffer> {
    if (context.authToken === null) throw new CertificateRetrievalError(`Unable to retrieve certificate with ID: ${id} (no token)`);
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new CertificateNotFoundError(id);
    const base = `${await this.endpoint(context.authToken, id)}/${this.options.apiVersion}/secrets/${id}`;
    const meta = await this.call(base, context.authToken, 'application/json', id);
    const secretType = (JSON.parse(meta.toString('utf8')) as { secret_type?: unknown }).secret_type;
    if (secretType !== 'certificate') throw new CertificateRetrievalError(`Invalid certificate format: ${String(secretType)}`);
    return this.call(`${base}/payload`, context.authToken, 'application/octet-stream', id);
  }

  private async endpoint(token: string, id: string): Promise<string> {
    if (this.options.endpoint !== null) return this.options.endpoint.replace(/\/+$/, '');
    if (this.options.authUrl === null) throw new CertificateRetrievalError(`Unable to retrieve certificate with ID: ${id} (no [barbican] barbican_endpoint)`);
    const catalog = JSON.parse((await this.call(`${this.options.authUrl}/auth/catalog`, token, 'application/json', id)).toString('utf8')) as {
      catalog?: { type?: string; endpoints?: { interface?: string; url?: string }[] }[];
    };
    const url = catalog.catalog?.find((s) => s.type === 'key-manager')?.endpoints?.find((e) => e.interface === 'public')?.url;
    if (url === undefined) throw new CertificateRetrievalError(`Unable to retrieve certificate with ID: ${id} (no key-manager endpoint in the catalog)`);
    return url.replace(/\/+$/, '');
  }

  private async call(url: string, token: string, accept: string, id: string): Promise<Buffer> {
    let response: Response;
    try {
      response = await fetch(url, { headers: { 'x-auth-token': token, accept }, signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
    } catch (error) {
      throw new CertificateRetrievalError(`Unable to retrieve certificate with ID: ${id} (${error instanceof Error ? error.message : String(error)})`);
    }
    if (response.status === 404) throw new CertificateNotFoundError(id);
    if (!response.ok) throw new CertificateRetrievalError(`Unable to retrieve certificate with ID: ${id} (key manager answered ${response.status})`);
    return Buffer.from(await response.arrayBuffer());
  }
}
