import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** A pass-through stream computing digests of what flows through it, and how to read them. */
export interface HashingStream {
  readonly stream: Transform;
  /** The hex digests, in the order of the algorithms asked for, once the stream has ended. */
  readonly digests: () => Promise<string[]>;
}

/**
 * Hashes on the event loop, chunk by chunk as the data streams (`hashing_threads = 0`). Simpler
 * than the worker pool and with a lower event-loop delay, but the digests then share one core
 * with receiving and writing; the pool uploads faster (bench/README.md, "Image data").
 */
export function inlineHashingStream(algorithms: readonly string[]): HashingStream {
  const hashes = algorithms.map((algorithm) => createHash(algorithm));
  let result: string[] | null = null;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (const hash of hashes) hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      result = hashes.map((hash) => hash.digest('hex'));
      callback();
    },
  });
  return {
    stream,
    digests: () => (result === null ? Promise.reject(new Error('the stream has not ended')) : Promise.resolve(result)),
  };
}
