import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ConfigError } from '../../config/config-error.js';
import { ServiceUnavailableError } from '../../errors/domain-errors.js';

/** How Glimpse talks to Keystone: keystoneauth's session options from `[keystone_authtoken]`. */
export interface KeystoneHttpOptions {
  /** `cafile`: PEM bundle trusted for https (the system's CAs when null). */
  readonly cafile: string | null;
  /** `certfile` / `keyfile`: a client certificate, when Keystone asks for one. */
  readonly certfile: string | null;
  readonly keyfile: string | null;
  /** `insecure`: do not verify Keystone's certificate. */
  readonly insecure: boolean;
  /** `http_connect_timeout` in seconds: the most one request to Keystone may take. */
  readonly timeoutSeconds: number;
  /** `http_request_max_retries`: new attempts after a failed connection (not after an answer). */
  readonly connectRetries: number;
}

export interface KeystoneResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body parsed as JSON; null when empty or not JSON. */
  readonly body: unknown;
}

/** Keystone could not be reached or did not answer in time (keystonemiddleware: 503). */
export class KeystoneUnreachableError extends ServiceUnavailableError {}

/** Body bytes accepted from Keystone; a token with a large catalog is a few hundred KiB. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

function readFile(path: string | null, option: string): Buffer | undefined {
  if (path === null) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`[keystone_authtoken] ${option}: ${path} cannot be read (${error instanceof Error ? error.message : String(error)})`);
  }
}

/**
 * A small JSON client over node:http(s) with keep-alive connections, a per-request deadline,
 * and keystoneauth's connect retries (0.5 s, doubling). Tokens travel only in headers and are
 * never logged.
 */
export class KeystoneHttp {
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  readonly #https: HttpsAgent;

  constructor(private readonly options: KeystoneHttpOptions) {
    const ca = readFile(options.cafile, 'cafile');
    const cert = readFile(options.certfile, 'certfile');
    const key = readFile(options.keyfile, 'keyfile');
    this.#https = new HttpsAgent({
      keepAlive: true,
      maxSockets: 16,
      rejectUnauthorized: !options.insecure,
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    });
  }

  async request(method: string, url: string, headers: Readonly<Record<string, string>>, body?: unknown): Promise<KeystoneResponse> {
    let delayMs = 500;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.#once(method, url, headers, body);
      } catch (error) {
        const connectFailure =
          error instanceof KeystoneUnreachableError && error.cause instanceof Error && 'code' in error.cause && error.cause.code === 'ECONNREFUSED';
        if (!connectFailure || attempt >= this.options.connectRetries) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs *= 2;
    }
  }

  #once(method: string, url: string, headers: Readonly<Record<string, string>>, body: unknown): Promise<KeystoneResponse> {
    const target = new URL(url);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const unreachable = (cause: unknown): void => {
        reject(
          new KeystoneUnreachableError(
            `The identity service at ${target.origin} could not be reached: ${cause instanceof Error ? cause.message : String(cause)}`,
            { cause },
          ),
        );
      };
      const req = send(
        target,
        {
          method,
          agent: target.protocol === 'https:' ? this.#https : this.#http,
          timeout: this.options.timeoutSeconds * 1000,
          headers: {
            accept: 'application/json',
            'user-agent': 'glimpse-keystone',
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              res.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', unreachable);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = null;
            try {
              parsed = text === '' ? null : JSON.parse(text);
            } catch {
              parsed = null;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
        },
      );
      // Slow counts as down: a Keystone that does not answer in time gets the caller a 503.
      req.setTimeout(this.options.timeoutSeconds * 1000, () => {
        req.destroy(new Error(`no answer within ${this.options.timeoutSeconds} s`));
      });
      req.on('error', unreachable);
      req.end(payload);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
