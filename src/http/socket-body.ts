import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeSync } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { Readable } from 'node:stream';
import type { RegionPool } from '../buffers/region-pool.js';
import type { DupSocket } from '../native/native-addon.js';
import { plainSocketFd, stopReads } from './socket-fd.js';

/**
 * After Glimpse has answered an upload it did not read to the end, it reads and drops the rest
 * of the declared body so the client sees the answer and not a reset connection (what Node
 * does for a body nobody read). A client that stops sending gets this long before the
 * connection goes.
 */
const DISCARD_IDLE_MS = 30_000;
/**
 * `onread` (documented for net.connect, implemented by the Socket constructor, missing from
 * its typings): reads go into the buffer we give, no Buffer is allocated per read.
 */
type SocketWithReadBuffer = SocketConstructorOpts & { readonly onread: { readonly buffer: () => Uint8Array; readonly callback: (bytes: number) => boolean } };

/** Where reads land once the body is over: nothing is read there (the socket is closed first). */
const NOWHERE = new Uint8Array(1);

/**
 * An upload body read from the connection by Glimpse rather than by Node's HTTP parser. Node
 * hands the parser 64 KiB at a time and copies every body piece into a fresh Buffer: at
 * hundreds of MiB/s that is a copy per byte, thousands of JavaScript calls per GiB, and enough
 * new memory for V8 to run a major GC several times a second (the collector and the copies took
 * a quarter of the server's CPU in an upload, by `perf`: bench/README.md, "Image data"). Here
 * the kernel copies the bytes once, into pooled shared regions that the hash threads read and
 * the file store writes with O_DIRECT as they are (src/buffers/chunk-lease.ts).
 *
 * Each full region is one chunk; the last chunk holds the rest. The body ends exactly at the
 * declared Content-Length: nothing past it is read. Since Node's parser never sees those
 * bytes, the connection cannot carry another request and is closed after the answer.
 */
export class SocketBody extends Readable {
  readonly #pool: RegionPool;
  readonly #onTruncated: () => void;
  #socket: Socket | null = null;
  #region: Uint8Array<SharedArrayBuffer> | null = null;
  #filled = 0;
  #remaining: number;
  #complete = false;
  #discarding = false;

  /**
   * `fd` is this body's own copy of the connection's descriptor, closed with it. `request`'s
   * socket must already be stopped (stopReads): Node's parser may still hand it the rest of
   * what it has read, so the body starts from `request` on the next turn of the event loop.
   */
  constructor(pool: RegionPool, request: IncomingMessage, length: number, fd: number, onTruncated: () => void) {
    super({ highWaterMark: pool.regionBytes });
    this.#pool = pool;
    this.#onTruncated = onTruncated;
    this.#remaining = length;
    setImmediate(() => {
      this.#start(request, fd);
    });
  }

  #start(request: IncomingMessage, fd: number): void {
    if (this.destroyed) {
      closeSync(fd);
      return;
    }
    // What Node's parser took before it was stopped: the start of the body.
    for (let piece = request.read() as Buffer | null; piece !== null; piece = request.read() as Buffer | null) {
      this.#remaining -= piece.length;
      this.#copyIn(piece);
    }
    if (this.#remaining <= 0) {
      closeSync(fd);
      this.#finish();
      return;
    }
    // Half-open and not writable: this copy of the connection must never shut it down.
    const options: SocketWithReadBuffer = {
      fd,
      readable: true,
      writable: false,
      allowHalfOpen: true,
      onread: { buffer: () => this.#target(), callback: (n) => this.#received(n) },
    };
    const socket = new Socket(options);
    this.#socket = socket;
    socket.on('end', () => {
      if (this.#remaining > 0) this.#peerLeft(new Error(`The client closed the connection ${this.#remaining} bytes before the end of the image data.`));
      else this.#closeSocket();
    });
    socket.on('error', (error) => {
      this.#peerLeft(error);
    });
  }

  /** Every declared byte has arrived. */
  get complete(): boolean {
    return this.#complete;
  }

  override _read(): void {
    this.#socket?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#socket !== null && !this.#complete && !this.#discarding) this.#discardRest();
    // As Node's IncomingMessage: an error is only emitted to listeners. A truncated body fails
    // the upload through its abort signal (onTruncated), whoever reads it.
    callback(this.listenerCount('error') > 0 ? error : null);
  }

  /** Copies bytes Node's parser had already taken (the start of the body) into regions. */
  #copyIn(piece: Buffer): void {
    let at = 0;
    while (at < piece.length) {
      const region = (this.#region ??= this.#pool.take());
      const n = Math.min(region.length - this.#filled, piece.length - at);
      region.set(piece.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === region.length) this.#pushRegion();
    }
  }

  /** Where the socket's next read lands: the free part of the region, never past the body. */
  #target(): Uint8Array {
    if (this.#remaining <= 0) return NOWHERE;
    const region = (this.#region ??= this.#pool.take());
    const start = this.#discarding ? 0 : this.#filled;
    return region.subarray(start, Math.min(region.length, start + this.#remaining));
  }

  /** A read of `n` bytes into the last target; false pauses the socket (backpressure). */
  #received(n: number): boolean {
    this.#remaining -= n;
    if (this.#discarding) {
      if (this.#remaining <= 0) this.#closeSocket();
      return true;
    }
    this.#filled += n;
    if (this.#remaining <= 0) {
      this.#closeSocket();
      this.#finish();
      return false;
    }
    if (this.#filled === this.#region?.length) return this.#pushRegion();
    return true;
  }

  #pushRegion(): boolean {
    const region = this.#region;
    if (region === null || this.#filled === 0) return true;
    const length = this.#filled;
    this.#region = null;
    this.#filled = 0;
    return this.push(this.#pool.lend(region, length));
  }

  #finish(): void {
    this.#complete = true;
    this.#pushRegion();
    this.push(null);
  }

  /** The client went away (or the connection failed) before the end of the body. */
  #peerLeft(error: Error): void {
    this.#closeSocket();
    if (this.#complete || this.destroyed) return;
    this.#onTruncated();
    this.destroy(error);
  }

  /** Reads and drops what is left of the declared body, then closes (see DISCARD_IDLE_MS). */
  #discardRest(): void {
    const socket = this.#socket;
    if (socket === null) return;
    this.#discarding = true;
    // The region is only read into now, never lent again; it is dropped with this object.
    socket.setTimeout(DISCARD_IDLE_MS, () => {
      this.#closeSocket();
    });
    // Draining must not keep a stopping process alive.
    socket.unref();
    socket.resume();
  }

  #closeSocket(): void {
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
  }
}

/**
 * Opens upload bodies as SocketBody where the connection allows it: plain TCP (not TLS), a
 * Content-Length (not chunked), the native addon built, and the body not already parsed.
 */
export class SocketBodyReader {
  /** Bodies by how they were read: from the socket, or through Node's parser. */
  readonly counts = { socket: 0, parser: 0 };

  constructor(
    private readonly pool: RegionPool,
    /** The addon's descriptor copy, or null: every body then goes through Node's parser. */
    private readonly dupSocket: DupSocket | null,
  ) {}

  /**
   * The body of `request` (`length` bytes declared, null if chunked), read from its socket, or null when it
   * must be read through Node. `onTruncated` runs if the client leaves before the end.
   */
  open(request: IncomingMessage, response: ServerResponse, length: number | null, onTruncated: () => void): SocketBody | null {
    const socket = request.socket;
    const fd = plainSocketFd(socket);
    if (
      this.dupSocket === null ||
      fd === null ||
      length === null ||
      !Number.isSafeInteger(length) ||
      length <= 0 ||
      request.headers['transfer-encoding'] !== undefined ||
      request.complete ||
      request.readableFlowing === true
    ) {
      this.counts.parser += 1;
      return null;
    }
    // Node's parser must not read this connection again: two readers would split the body
    // between them. Reading `request` (the body does, for what the parser already took) makes
    // Node resume the socket from a tick it schedules next, as can anything later that reads
    // `request`; each resume is undone in its own tick, before the event loop can read.
    stopReads(socket);
    socket.on('resume', () => {
      stopReads(socket);
    });
    response.shouldKeepAlive = false;
    this.counts.socket += 1;
    return new SocketBody(this.pool, request, length, this.dupSocket(fd), onTruncated);
  }
}
