import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Chunk } from '../../buffers/chunk-lease.js';
import { StoreAbortedError, StoreError, StoreUnavailableError } from '../store-errors.js';

/** How Glimpse talks to Swift and its auth service (`swift_store_*` options). */
export interface SwiftHttpOptions {
  readonly connectTimeoutMs: number;
  /** The longest wait for an answer, or for the next bytes of one, before the backend counts as down. */
  readonly readTimeoutMs: number;
  readonly ca?: Buffer | undefined;
  readonly insecure: boolean;
}

export interface SwiftResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface SwiftRequestOptions {
  /** Safe to send again (GET, HEAD, DELETE, container PUT): retried after a connection failure or a 5xx. */
  readonly idempotent?: boolean;
  readonly body?: Buffer;
  readonly signal?: AbortSignal;
}

/** Bytes of a response body read into memory (listings, manifests, errors); objects are streamed. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** New attempts of an idempotent request, after 0.25 s and 0.5 s. */
const RETRIES = 2;
/**
 * Idle keep-alive connections are closed after this long: Swift's servers (eventlet) drop them
 * after `client_timeout` (60 s), and a request sent on a connection the server just closed
 * fails without an answer, which only an idempotent request may survive by retrying.
 */
const IDLE_SOCKET_MS = 20_000;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || ('code' in error && error.code === 'ABORT_ERR'));
}

/**
 * A small client over node:http(s) for Swift: keep-alive connections, a connect timeout, a read
 * timeout on every wait (the head of an answer, each next bytes of a body, each write the backend
 * does not take), bounded retries of idempotent requests only, and failures as StoreErrors. The
 * token travels in headers and is never part of a message.
 */
export class SwiftHttp {
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 64, timeout: IDLE_SOCKET_MS });
  readonly #https: HttpsAgent;

  constructor(private readonly options: SwiftHttpOptions) {
    this.#https = new HttpsAgent({
      keepAlive: true,
      maxSockets: 64,
      timeout: IDLE_SOCKET_MS,
      rejectUnauthorized: !options.insecure,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
  }

  /** Sends a request with an optional small body and reads the whole answer. */
  async request(method: string, url: string, headers: Readonly<Record<string, string>>, options: SwiftRequestOptions = {}): Promise<SwiftResponse> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await this.#open(method, url, headers, options.signal, (req) => req.end(options.body));
        const body = await this.#readBody(response, url);
        if (options.idempotent === true && response.statusCode !== undefined && response.statusCode >= 500 && attempt < RETRIES) {
          await this.#backoff(attempt);
          continue;
        }
        return { status: response.statusCode ?? 0, headers: response.headers, body };
      } catch (error) {
        if (options.idempotent !== true || attempt >= RETRIES || error instanceof StoreAbortedError) throw error;
      }
      await this.#backoff(attempt);
    }
  }

  /** Opens a GET whose body the caller streams; the answer's status is the caller's to check. */
  async get(url: string, headers: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<IncomingMessage> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await this.#open('GET', url, headers, signal, (req) => req.end());
        // From here on, a body that stops arriving for readTimeoutMs ends the stream as an error.
        response.setTimeout(this.options.readTimeoutMs, () => {
          response.destroy(this.#unavailable(url, `no data for ${this.options.readTimeoutMs / 1000} s`));
        });
        return response;
      } catch (error) {
        if (attempt >= RETRIES || error instanceof StoreAbortedError) throw error;
      }
      await this.#backoff(attempt);
    }
  }

  /**
   * Streams `body` as the request body (chunked: the length is not known in advance) and reads
   * the answer. Each leased chunk is released once the socket has taken it, and the next is only
   * read when the socket drains, so memory stays bounded whatever the backend's pace. Never
   * retried: the bytes are gone once sent.
   */
  async upload(url: string, headers: Readonly<Record<string, string>>, body: AsyncIterable<Chunk>, signal?: AbortSignal): Promise<SwiftResponse> {
    const source: { failure: Error | null } = { failure: null };
    // Swift may answer before the body is complete (401, 413, 412): then the rest is not sent.
    let answered = false;
    const response = await this.#open('PUT', url, { ...headers, 'transfer-encoding': 'chunked' }, signal, (req) => {
      req.once('response', () => (answered = true));
      void (async () => {
        try {
          for await (const chunk of body) {
            if (req.destroyed || answered) {
              chunk.lease?.release();
              break;
            }
            const flushed = req.write(chunk, () => chunk.lease?.release());
            if (!flushed) await waitForDrain(req);
          }
          if (!answered) req.end();
        } catch (error) {
          source.failure = error instanceof Error ? error : new Error(String(error));
          req.destroy(source.failure);
        }
      })();
    }).catch((error: unknown) => {
      // The source failing is the cause; the torn-down request only reports it.
      throw source.failure ?? error;
    });
    if (source.failure !== null) throw source.failure;
    return { status: response.statusCode ?? 0, headers: response.headers, body: await this.#readBody(response, url) };
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  #open(
    method: string,
    url: string,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal | undefined,
    send: (req: ClientRequest) => void,
  ): Promise<IncomingMessage> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(new StoreAbortedError('The request was aborted.'));
        return;
      }
      let connected = false;
      const req = (secure ? httpsRequest : httpRequest)(target, {
        method,
        agent: secure ? this.#https : this.#http,
        headers: { 'user-agent': 'glimpse-swift', ...headers },
        ...(signal === undefined ? {} : { signal }),
      });
      const connectTimer = setTimeout(() => {
        if (!connected) req.destroy(this.#unavailable(url, `no connection within ${this.options.connectTimeoutMs / 1000} s`));
      }, this.options.connectTimeoutMs);
      req.on('socket', (socket) => {
        if (!socket.connecting) connected = true;
        else socket.once(secure ? 'secureConnect' : 'connect', () => (connected = true));
      });
      req.setTimeout(this.options.readTimeoutMs, () => {
        req.destroy(this.#unavailable(url, `no answer within ${this.options.readTimeoutMs / 1000} s`));
      });
      req.on('response', (response) => {
        clearTimeout(connectTimer);
        resolve(response);
      });
      req.on('error', (error) => {
        clearTimeout(connectTimer);
        if (isAbort(error)) reject(new StoreAbortedError('The request was aborted.', { cause: error }));
        else reject(error instanceof StoreError ? error : this.#unavailable(url, describe(error), error));
      });
      send(req);
    });
  }

  async #readBody(response: IncomingMessage, url: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    response.setTimeout(this.options.readTimeoutMs, () => response.destroy(this.#unavailable(url, 'the answer stopped arriving')));
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          response.destroy();
          throw this.#unavailable(url, `an answer larger than ${MAX_BODY_BYTES} bytes`);
        }
        chunks.push(chunk);
      }
    } catch (error) {
      throw error instanceof StoreError ? error : this.#unavailable(url, describe(error), error);
    }
    return Buffer.concat(chunks);
  }

  #unavailable(url: string, reason: string, cause?: unknown): StoreUnavailableError {
    return new StoreUnavailableError(`Swift at ${new URL(url).origin} is unavailable: ${reason}`, cause === undefined ? undefined : { cause });
  }

  async #backoff(attempt: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
  }
}

function waitForDrain(req: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}
