import { Readable } from 'node:stream';
import type { AlignedBuffer, ResidentFraction, Sendfile } from '../native/native-addon.js';
import type { LocalFile } from '../stores/image-store.js';
import { directRead } from './direct-read.js';
import type { DownloadSink, SendOutcome } from './download-sink.js';
import type { FileSlice } from './file-slice.js';

/** What one native call may send before control comes back to JavaScript. */
const SLICE_BYTES = 64 * 1024 * 1024;
/**
 * How long one native call waits for an unwritable socket. A reader this slow gains nothing
 * from sendfile, so the rest of its body streams through Node, which waits for it without
 * holding a thread-pool thread.
 */
const STALL_MS = 100;
/** Streaming reads of a file, as the file store's (1 MiB: few thread-pool round trips). */
const STREAM_CHUNK = 1024 * 1024;
/** How much of a download's start is checked for page-cache residency (a cheap mincore). */
const RESIDENCY_SAMPLE = 64 * 1024 * 1024;
/** Below this, a download is sent the same way cached or not: there is too little to gain. */
const DIRECT_READ_MIN = 4 * 1024 * 1024;
/**
 * An uncached image downloaded again within this time of its first download goes through the
 * page cache, so images that are downloaded often (one per compute node booting it) are then
 * served from memory.
 */
const SECOND_DOWNLOAD_WINDOW_MS = 60 * 60 * 1000;

/** What reading uncached images with O_DIRECT needs from the addon. */
export interface DirectReads {
  readonly residentFraction: ResidentFraction;
  readonly allocate: AlignedBuffer;
}

/**
 * Whether the file was read since it was last written, within SECOND_DOWNLOAD_WINDOW_MS: its
 * access time says so to every process of the server, and across restarts. Under the default
 * `relatime` mount option the first read after a write moves atime past mtime, O_DIRECT reads
 * included, and later reads leave it; under `noatime` it never moves, and every download of an
 * uncached image is then read with O_DIRECT.
 */
async function readRecently(file: LocalFile): Promise<boolean> {
  const { atimeMs, mtimeMs } = await file.handle.stat();
  return atimeMs > mtimeMs && Date.now() - atimeMs <= SECOND_DOWNLOAD_WINDOW_MS;
}

/**
 * Sends a slice of a local file as a download's body: with sendfile(2) when it can (the bytes go
 * from the page cache to the socket without entering user space: bench/README.md, "Image data");
 * read with O_DIRECT when most of it is not in the page cache and this is its first download
 * (src/transfer/direct-read.ts); else as a stream. The file is closed when the body is over,
 * either way. This is the file store's fast path; the HTTP layer only hands over the response
 * (src/http/reply-sink.ts), so no storage policy lives there.
 */
export class LocalFileSender {
  #active = 0;
  /**
   * Downloads by how their body went: all by sendfile, read with O_DIRECT, all streamed, or
   * sendfile then streamed.
   */
  readonly counts = { sendfile: 0, direct: 0, streamed: 0, fellBack: 0 };

  constructor(
    /** The native sendfile, or null to always stream (`sendfile_downloads = false`, no addon). */
    private readonly sendfile: Sendfile | null,
    /**
     * Transfers allowed at once: each holds a thread-pool thread while it sends, and file-store
     * writes need the pool too. Further downloads stream.
     */
    private readonly maxConcurrent: number,
    /** O_DIRECT reads for uncached images, or null to send them by sendfile too. */
    private readonly directReads: DirectReads | null = null,
  ) {}

  async send(sink: DownloadSink, slice: FileSlice): Promise<SendOutcome> {
    const { file, start, length } = slice;
    const fd = sink.directFd();
    if (this.sendfile === null || fd === null || length === 0 || this.#active >= this.maxConcurrent) {
      this.counts.streamed += 1;
      return this.#stream(sink, slice, 0, 'streamed');
    }
    // An image not in the page cache is read with O_DIRECT the first time (right after its
    // upload, say), which keeps a one-off download from displacing the cache; the second time
    // within the window, it goes through the cache like any file, and stays there.
    const reads = this.directReads;
    // Asked before the residency check: its mapping of the file counts as an access and moves atime.
    const firstDownload = reads !== null && length >= DIRECT_READ_MIN && !(await readRecently(file));
    const uncached = firstDownload && reads.residentFraction(file.handle.fd, start, Math.min(length, RESIDENCY_SAMPLE)) < 0.5;
    const direct = uncached ? await directRead(slice, reads.allocate) : null;
    if (direct !== null) {
      this.counts.direct += 1;
      try {
        const bytes = await direct.send(sink);
        return { path: 'direct', bytes, complete: bytes === length };
      } finally {
        await file.handle.close();
      }
    }
    this.#active += 1;
    let sent = 0;
    let streamRest = false;
    try {
      await sink.sendHead();
      while (sent < length) {
        // Checked right before each call: a destroyed socket's fd number may already be reused.
        if (sink.directFd() !== fd) return { path: 'sendfile', bytes: sent, complete: false };
        const progress = await this.sendfile(fd, file.handle.fd, start + sent, Math.min(length - sent, SLICE_BYTES), STALL_MS);
        sent += progress.sent;
        if (progress.shortFile) {
          // The file shrank under us: the promised Content-Length cannot be met.
          sink.abort(new Error('image file ended early'));
          return { path: 'sendfile', bytes: sent, complete: false };
        }
        if (progress.stalled) {
          streamRest = true;
          break;
        }
      }
    } catch (error) {
      // EPIPE / ECONNRESET: the client went away; nothing more can be sent on this connection.
      sink.log.info({ err: error, sent }, 'download ended by the connection');
      sink.abort(error instanceof Error ? error : new Error(String(error)));
      return { path: 'sendfile', bytes: sent, complete: false };
    } finally {
      this.#active -= 1;
      if (!streamRest) await file.handle.close();
    }
    if (streamRest) {
      this.counts.fellBack += 1;
      return this.#stream(sink, slice, sent, 'fellBack');
    }
    this.counts.sendfile += 1;
    sink.end();
    return { path: 'sendfile', bytes: sent, complete: true };
  }

  /** Node's own streaming, from `offset` bytes into the slice on (the head may already be out). */
  async #stream(sink: DownloadSink, slice: FileSlice, offset: number, path: SendOutcome['path']): Promise<SendOutcome> {
    const { file, start, length } = slice;
    if (length === 0) {
      // Only reached before anything was sent: the sendfile path never takes an empty body.
      await file.handle.close();
      const complete = await sink.stream(Readable.from([]));
      return { path, bytes: 0, complete };
    }
    // The sink destroys the file stream if the client goes away, which closes the file.
    const stream = file.handle.createReadStream({ start: start + offset, end: start + length - 1, highWaterMark: STREAM_CHUNK, autoClose: true });
    const complete = await sink.stream(stream);
    return { path, bytes: complete ? length : offset + stream.bytesRead, complete };
  }
}
