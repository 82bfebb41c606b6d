import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { HashRequest, HashResponse } from './hash-protocol.js';
import type { HashingStream } from './inline-hashing.js';

/**
 * The worker's program. It is plain JavaScript evaluated in the thread, not a module file,
 * because Glimpse runs its TypeScript through a loader registered in the main thread only
 * (bin/*.js), which worker threads would not inherit. It speaks HashRequest / HashResponse
 * (src/hashing/hash-protocol.ts) and needs nothing but node:crypto.
 */
const HASH_WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const sessions = new Map();
parentPort.on('message', (m) => {
  if (m.type === 'start') {
    try { sessions.set(m.session, createHash(m.algorithm)); }
    catch (e) { parentPort.postMessage({ type: 'error', session: m.session, message: String(e && e.message) }); }
  } else if (m.type === 'data') {
    const hash = sessions.get(m.session);
    if (hash) hash.update(new Uint8Array(m.buffer, m.offset, m.length));
    parentPort.postMessage({ type: 'ack', session: m.session, bytes: m.length });
  } else if (m.type === 'end') {
    const hash = sessions.get(m.session);
    sessions.delete(m.session);
    if (hash) parentPort.postMessage({ type: 'digest', session: m.session, hex: hash.digest('hex') });
  } else if (m.type === 'cancel') {
    sessions.delete(m.session);
  }
});
`;

/** Bytes a session may have handed to a worker and not yet seen hashed, before it waits. */
const MAX_IN_FLIGHT = 16 * 1024 * 1024;
/**
 * Chunks are copied into shared buffers of this size, to keep messages few. The buffers are
 * reused once every worker has hashed them: a fresh SharedArrayBuffer per batch cost the main
 * thread more than the copy itself (zeroed, newly mapped pages).
 */
const BATCH = 1024 * 1024;
/** Idle shared buffers a stream keeps for reuse: enough to cover what may be in flight. */
const MAX_FREE_BUFFERS = MAX_IN_FLIGHT / BATCH + 1;

interface SessionState {
  inFlight: number;
  /** Buffers sent and not yet acknowledged, oldest first (a worker acks in order). */
  readonly held: SharedArrayBuffer[];
  /** Hands an acknowledged buffer back to its stream. */
  readonly release: (buffer: SharedArrayBuffer) => void;
  onAck: (() => void) | null;
  /** Set when the session can send no more: cancelled, or its worker failed. */
  closed: Error | null;
  resolve: (hex: string) => void;
  reject: (error: Error) => void;
}

/** One worker thread and the hash sessions it runs. */
class HashThread {
  readonly worker: Worker;
  readonly sessions = new Map<number, SessionState>();

  constructor(onExit: (thread: HashThread) => void) {
    this.worker = new Worker(HASH_WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (message: HashResponse) => {
      this.handle(message);
    });
    const fail = (error: Error): void => {
      for (const state of this.sessions.values()) {
        state.closed = error;
        state.onAck?.();
        state.reject(error);
      }
      this.sessions.clear();
      onExit(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      fail(new Error(`hash worker exited with ${code}`));
    });
  }

  post(message: HashRequest): void {
    this.worker.postMessage(message);
  }

  private handle(message: HashResponse): void {
    const state = this.sessions.get(message.session);
    if (state === undefined) return;
    switch (message.type) {
      case 'ack': {
        state.inFlight -= message.bytes;
        const done = state.held.shift();
        if (done !== undefined) state.release(done);
        const waiting = state.onAck;
        state.onAck = null;
        waiting?.();
        return;
      }
      case 'digest':
        this.sessions.delete(message.session);
        state.resolve(message.hex);
        return;
      case 'error':
        this.sessions.delete(message.session);
        state.reject(new Error(message.message));
        return;
    }
  }
}

/**
 * Hashes upload streams on worker threads, one thread per algorithm of a stream, so that md5 and
 * the multihash run in parallel with each other and with the HTTP and disk work of the main
 * thread. The default (`[DEFAULT] hashing_threads = 2`): on the project's two-core machine it
 * uploads faster than hashing on the event loop (bench/README.md, "Image data").
 */
export class HashPool {
  private readonly threads = new Map<number, HashThread>();
  private nextSession = 1;
  private nextStream = 0;

  constructor(private readonly size: number = Math.max(2, availableParallelism())) {}

  /**
   * A pass-through stream that hashes what flows through it with each algorithm. `digests`
   * resolves once the stream has ended (it is complete before the stream's 'finish').
   */
  hashingStream(algorithms: readonly string[]): HashingStream {
    const base = this.nextStream;
    this.nextStream += 1;
    // How many sessions still read each buffer; at zero it goes back to `free`.
    const readers = new Map<SharedArrayBuffer, number>();
    const free: SharedArrayBuffer[] = [];
    const release = (buffer: SharedArrayBuffer): void => {
      const left = (readers.get(buffer) ?? 1) - 1;
      if (left > 0) {
        readers.set(buffer, left);
        return;
      }
      readers.delete(buffer);
      if (free.length < MAX_FREE_BUFFERS) free.push(buffer);
    };
    const sessions = algorithms.map((algorithm, index) => this.open(algorithm, (base + index) % this.size, release));
    const results = Promise.all(sessions.map((s) => s.result));
    // Errors surface through digests(); this keeps an early failure from being "unhandled".
    results.catch(() => undefined);

    let current: Uint8Array<SharedArrayBuffer> | null = null;
    let filled = 0;
    /** Sends the current buffer (its first `filled` bytes) to every session. */
    const share = async (): Promise<void> => {
      if (current === null || filled === 0) return;
      const { buffer } = current;
      const length = filled;
      current = null;
      filled = 0;
      readers.set(buffer, sessions.length);
      await Promise.all(sessions.map((s) => s.send(buffer, length)));
    };
    /** Copies a chunk into shared buffers, sending each one that fills up. */
    const copy = async (chunk: Buffer): Promise<void> => {
      let offset = 0;
      while (offset < chunk.length) {
        current ??= new Uint8Array(free.pop() ?? new SharedArrayBuffer(BATCH));
        const n = Math.min(BATCH - filled, chunk.length - offset);
        current.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === BATCH) await share();
      }
    };

    const stream = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        copy(chunk).then(() => {
          callback(null, chunk);
        }, callback);
      },
      flush(callback: TransformCallback) {
        share()
          .then(() => {
            for (const s of sessions) s.end();
            return results;
          })
          .then(() => {
            callback();
          }, callback);
      },
      destroy(error, callback) {
        for (const s of sessions) s.cancel();
        callback(error);
      },
    });
    return { stream, digests: () => results };
  }

  /** The thread in `slot`: a stream's algorithms go to different slots, streams rotate over them. */
  private thread(slot: number): HashThread {
    let thread = this.threads.get(slot);
    if (thread === undefined) {
      // A thread that dies is replaced on next use; its sessions have failed with its error.
      thread = new HashThread((dead) => {
        if (this.threads.get(slot) === dead) this.threads.delete(slot);
      });
      this.threads.set(slot, thread);
    }
    return thread;
  }

  private open(algorithm: string, slot: number, release: (buffer: SharedArrayBuffer) => void): { result: Promise<string>; send: (buffer: SharedArrayBuffer, length: number) => Promise<void>; end: () => void; cancel: () => void } {
    const session = this.nextSession;
    this.nextSession += 1;
    const thread = this.thread(slot);
    let settle: { resolve: (hex: string) => void; reject: (error: Error) => void } = { resolve: () => undefined, reject: () => undefined };
    const result = new Promise<string>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const state: SessionState = { inFlight: 0, held: [], release, onAck: null, closed: null, resolve: settle.resolve, reject: settle.reject };
    thread.sessions.set(session, state);
    thread.post({ type: 'start', session, algorithm });
    return {
      result,
      send: async (buffer, length) => {
        while (state.inFlight > MAX_IN_FLIGHT && state.closed === null) {
          await new Promise<void>((resolve) => {
            state.onAck = resolve;
          });
        }
        if (state.closed !== null) throw state.closed;
        state.inFlight += length;
        state.held.push(buffer);
        thread.post({ type: 'data', session, buffer, offset: 0, length });
      },
      end: () => {
        thread.post({ type: 'end', session });
      },
      cancel: () => {
        if (!thread.sessions.delete(session)) return;
        thread.post({ type: 'cancel', session });
        state.closed = new Error('hashing cancelled');
        state.onAck?.();
        state.reject(state.closed);
      },
    };
  }

  async close(): Promise<void> {
    const threads = [...this.threads.values()];
    this.threads.clear();
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}
