/**
 * The body of a fetched response as a stream that enforces what web-download must: at most
 * `maxBytes`, exactly the Content-Length the server announced (reference §9.4 step 2: "If the
 * response has a Content-Length, the byte count must match"), and no stall longer than
 * `stallTimeoutMs`.
 *
 * Backpressure passes through: when our reader is full the socket is paused, so nothing piles up
 * here. The stall clock runs only while we are asking the server for bytes, never while our own
 * reader (a slow store) holds us back; a slow consumer is not a stalled server.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { FetchError } from './fetch-errors.js';

export interface GuardedBodyOptions {
  readonly request: ClientRequest;
  readonly response: IncomingMessage;
  /** The URL, safe to show. */
  readonly display: string;
  /** The announced length, or null when the response has none (chunked, or until close). */
  readonly contentLength: number | null;
  readonly maxBytes: number;
  readonly stallTimeoutMs: number;
  readonly signal: AbortSignal;
  /** How much this stream buffers before pausing the socket. */
  readonly highWaterMark?: number;
}

/** Four of a socket's 64 KiB reads: what waits here per download when the disk holds writes back. */
const DEFAULT_HIGH_WATER_MARK = 256 * 1024;

export class GuardedBody extends Readable {
  readonly #options: GuardedBodyOptions;
  #received = 0;
  #ended = false;
  #stallTimer: NodeJS.Timeout | undefined;

  constructor(options: GuardedBodyOptions) {
    super({ highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK });
    this.#options = options;
    const { response, signal } = options;
    // Paused before the listener goes on, so bytes flow only once someone reads (_read resumes).
    response.pause();
    response.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    response.on('end', () => {
      this.#onEnd();
    });
    response.on('error', (error) => this.destroy(this.#cutShort(error)));
    response.on('close', () => {
      if (!this.#ended) this.destroy(this.#cutShort(null));
    });
    signal.addEventListener('abort', this.#onAbort, { once: true });
    if (signal.aborted) this.#onAbort();
  }

  /** Bytes received so far. */
  get bytesReceived(): number {
    return this.#received;
  }

  override _read(): void {
    this.#options.response.resume();
    this.#armStall();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#disarmStall();
    this.#options.signal.removeEventListener('abort', this.#onAbort);
    this.#options.response.destroy();
    this.#options.request.destroy();
    callback(error);
  }

  #onData(chunk: Buffer): void {
    if (this.destroyed) return;
    this.#disarmStall();
    const { maxBytes, display } = this.#options;
    if (this.#received + chunk.length > maxBytes) {
      // The bytes past the limit are never handed on.
      this.destroy(new FetchError('too-large', display, `the body is larger than the limit of ${maxBytes} bytes`));
      return;
    }
    this.#received += chunk.length;
    if (this.push(chunk)) this.#armStall();
    else this.#options.response.pause();
  }

  #onEnd(): void {
    this.#ended = true;
    this.#disarmStall();
    const { contentLength, display } = this.#options;
    if (contentLength !== null && this.#received !== contentLength) {
      this.destroy(new FetchError('length-mismatch', display, `received ${this.#received} bytes, but Content-Length announced ${contentLength}`));
      return;
    }
    this.push(null);
  }

  /** The response ended without its proper end. */
  #cutShort(cause: Error | null): FetchError {
    const { contentLength, display } = this.#options;
    const options = cause === null ? undefined : { cause };
    if (contentLength !== null) {
      return new FetchError(
        'length-mismatch',
        display,
        `the connection ended after ${this.#received} of the ${contentLength} bytes Content-Length announced`,
        options,
      );
    }
    return new FetchError('truncated', display, `the connection ended after ${this.#received} bytes, before the body's end`, options);
  }

  readonly #onAbort = (): void => {
    this.destroy(new FetchError('aborted', this.#options.display, 'the fetch was aborted', { cause: this.#options.signal.reason }));
  };

  #armStall(): void {
    if (this.#stallTimer !== undefined || this.#ended || this.destroyed) return;
    const { stallTimeoutMs, display } = this.#options;
    this.#stallTimer = setTimeout(() => {
      this.destroy(new FetchError('stall', display, `no bytes for ${stallTimeoutMs} ms after ${this.#received} bytes`));
    }, stallTimeoutMs);
  }

  #disarmStall(): void {
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }
}
