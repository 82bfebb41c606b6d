import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { HashRequest, HashResponse } from './hash-protocol.js';
import type { HashingStream } from './inline-hashing.js';
import type { Chunk, ChunkLease } from '../buffers/chunk-lease.js';

/**
 * The worker thread's program. Compiled (dist/, what glimpse-api runs), it is hash-worker.js
 * itself; run from source (the tests, through tsx), a thread does not inherit the TypeScript
 * loader, so it starts through an entry that registers one first.
 */
const HASH_WORKER = import.meta.url.endsWith('.ts') ? new URL('./hash-worker-entry.mjs', import.meta.url) : new URL('./hash-worker.js', import.meta.url);

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
  /** For each data message not yet acknowledged, what to run once it is, oldest first (a worker acks in order). */
  readonly held: (() => void)[];
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
    this.worker = new Worker(HASH_WORKER);
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
        state.held.shift()?.();
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
    const free: SharedArrayBuffer[] = [];
    const sessions = algorithms.map((algorithm, index) => this.open(algorithm, (base + index) % this.size));
    /** Runs `done` once every session has hashed a message's bytes (each acknowledges on its own). */
    const afterAll = (done: () => void): (() => void) => {
      let left = sessions.length;
      return () => {
        left -= 1;
        if (left === 0) done();
      };
    };
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
      const reuse = afterAll(() => {
        if (free.length < MAX_FREE_BUFFERS) free.push(buffer);
      });
      await Promise.all(sessions.map((s) => s.send(buffer, 0, length, reuse)));
    };
    /**
     * A leased chunk in shared memory (src/http/socket-body.ts) goes to the workers as it is,
     * with no copy; it is held until every worker has hashed it. Whatever is waiting in the
     * current buffer goes first: the digests must see the bytes in order.
     */
    const lend = async (chunk: Buffer, buffer: SharedArrayBuffer, lease: ChunkLease): Promise<void> => {
      await share();
      lease.retain();
      const release = afterAll(() => {
        lease.release();
      });
      await Promise.all(sessions.map((s) => s.send(buffer, chunk.byteOffset, chunk.length, release)));
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
      transform(chunk: Buffer & Chunk, _encoding, callback: TransformCallback) {
        const lease = chunk.lease;
        const { buffer } = chunk;
        (lease !== undefined && buffer instanceof SharedArrayBuffer ? lend(chunk, buffer, lease) : copy(chunk)).then(() => {
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

  private open(
    algorithm: string,
    slot: number,
  ): {
    result: Promise<string>;
    send: (buffer: SharedArrayBuffer, offset: number, length: number, hashed: () => void) => Promise<void>;
    end: () => void;
    cancel: () => void;
  } {
    const session = this.nextSession;
    this.nextSession += 1;
    const thread = this.thread(slot);
    let settle: { resolve: (hex: string) => void; reject: (error: Error) => void } = { resolve: () => undefined, reject: () => undefined };
    const result = new Promise<string>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const state: SessionState = { inFlight: 0, held: [], onAck: null, closed: null, resolve: settle.resolve, reject: settle.reject };
    thread.sessions.set(session, state);
    thread.post({ type: 'start', session, algorithm });
    return {
      result,
      send: async (buffer, offset, length, hashed) => {
        while (state.inFlight > MAX_IN_FLIGHT && state.closed === null) {
          await new Promise<void>((resolve) => {
            state.onAck = resolve;
          });
        }
        if (state.closed !== null) throw state.closed;
        state.inFlight += length;
        state.held.push(hashed);
        thread.post({ type: 'data', session, buffer, offset, length });
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
