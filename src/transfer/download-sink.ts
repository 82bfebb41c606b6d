import type { Readable } from 'node:stream';
import type { Logger } from '../ports/logger.js';

/**
 * Where a download's bytes go: the one response being answered, as the HTTP layer hands it to
 * the transfer code (src/http/reply-sink.ts). The status and headers are already decided; the
 * sender only chooses how the body travels (sendfile, O_DIRECT reads, a stream).
 */
export interface DownloadSink {
  /**
   * The connection's file descriptor when bytes may be written to it directly (a plain TCP
   * socket), else null. Asked again before each direct write: once the connection is gone, its
   * number may already belong to another file.
   */
  directFd(): number | null;
  /** Sends the status and headers, no body yet; settles once they are in the kernel, so body bytes written directly follow them. */
  sendHead(): Promise<void>;
  /** Writes body bytes after `sendHead`; settles when the connection took them, rejects when it failed. */
  write(bytes: Uint8Array): Promise<void>;
  /** The body is complete. */
  end(): void;
  /** Ends the connection at once: the promised body cannot be completed, and the client must see a truncated response, not a wrong one. */
  abort(reason: Error): void;
  /**
   * Sends `body` as the response body, or as its rest when the head is already out; true once
   * all of it went out, false when the client went away first.
   */
  stream(body: Readable): Promise<boolean>;
  /** Rejects when the client goes away (never resolves). */
  gone(): Promise<never>;
  readonly log: Logger;
}

/** How a download's body went, for the image.sent event and the counts. */
export interface SendOutcome {
  readonly path: 'sendfile' | 'direct' | 'streamed' | 'fellBack';
  /** Bytes the connection took (for a stream cut short: bytes read for it, an upper bound). */
  readonly bytes: number;
  /** Every byte of the slice went out. */
  readonly complete: boolean;
}
