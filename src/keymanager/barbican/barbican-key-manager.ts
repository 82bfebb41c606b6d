import type { RequestContext } from '../../auth/request-context.js';
import { CertificateNotFoundError, CertificateRetrievalError, type KeyManager } from '../key-manager.js';

export interface BarbicanOptions {
  /** `[barbican] barbican_endpoint`; null: the key-manager endpoint of the caller's catalog. */
  readonly endpoint: string | null;
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
    const base = `${this.endpoint(context, id)}/${this.options.apiVersion}/secrets/${id}`;
    const meta = await this.call(base, context.authToken, 'application/json', id);
    const secretType = (JSON.parse(meta.toString('utf8')) as { secret_type?: unknown }).secret_type;
    if (secretType !== 'certificate') throw new CertificateRetrievalError(`Invalid certificate format: ${String(secretType)}`);
    return this.call(`${base}/payload`, context.authToken, 'application/octet-stream', id);
  }

  /** The configured endpoint, or the public key-manager endpoint of the caller's catalog (X-Service-Catalog). */
  private endpoint(context: RequestContext, id: string): string {
    if (this.options.endpoint !== null) return this.options.endpoint.replace(/\/+$/, '');
    const url = context.serviceCatalog.find((s) => s.type === 'key-manager')?.endpoints.find((e) => e.interface === 'public')?.url;
    if (url === undefined)
      throw new CertificateRetrievalError(
        `Unable to retrieve certificate with ID: ${id} (no [barbican] barbican_endpoint, and no key-manager endpoint in the caller's catalog)`,
      );
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
