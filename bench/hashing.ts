/**
 * Where upload hashing should run: inline on the event loop, or on worker threads (src/hashing).
 *   npx tsx bench/hashing.ts        (BENCH_HASH_GIB=1)
 * Streams a file in 64 KiB chunks through md5 + sha512 into the file store (direct writes, as
 * uploads are stored), both ways, and reports MiB/s and how long the event loop was blocked
 * (p99 / max of perf_hooks' delay monitor).
 */
import { createHash } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Transform } from 'node:stream';
import { HashPool } from '../src/hashing/hash-pool.js';
import { FileStore } from '../src/stores/file/file-store.js';

const MIB = 1024 * 1024;
const SIZE = Number(process.env['BENCH_HASH_GIB'] ?? 1) * 1024 * MIB;
const SOURCE = '/tmp/glimpse-bench-hash.src';
const TARGET = '/tmp/glimpse-bench-hash.store';

function inline(): { stream: Transform; digests: () => Promise<string[]> } {
  const md5 = createHash('md5');
  const sha = createHash('sha512');
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5.update(chunk);
      sha.update(chunk);
      callback(null, chunk);
    },
  });
  return { stream, digests: () => Promise.resolve([md5.digest('hex'), sha.digest('hex')]) };
}

async function measure(
  name: string,
  make: () => { stream: Transform; digests: () => Promise<string[]> },
): Promise<{ name: string; mibPerSecond: number; loopP99Ms: number; loopMaxMs: number; digests: string[] }> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const hashing = make();
  delay.enable();
  const started = process.hrtime.bigint();
  // 64 KiB reads: the size of the chunks an HTTP upload arrives in.
  const written = await store.write(randomUUID(), createReadStream(SOURCE, { highWaterMark: 64 * 1024 }).pipe(hashing.stream), { maxBytes: SIZE });
  await store.delete(written.location);
  const digests = await hashing.digests();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  delay.disable();
  return { name, mibPerSecond: SIZE / MIB / seconds, loopP99Ms: delay.percentile(99) / 1e6, loopMaxMs: delay.max / 1e6, digests };
}

execFileSync('sh', ['-c', `head -c ${SIZE} /dev/urandom > ${SOURCE}`]);
const pool = new HashPool(2);
const store = await FileStore.open({ id: 'file', datadir: TARGET, filePerm: 0, durable: false, directIo: true });
try {
  for (let round = 0; round < 2; round += 1) {
    const results = [await measure('inline', inline), await measure('worker threads', () => pool.hashingStream(['md5', 'sha512']))];
    if (results[0]?.digests.join() !== results[1]?.digests.join()) throw new Error('digests differ');
    for (const r of results)
      console.log(
        `round ${round} ${r.name.padEnd(15)} ${r.mibPerSecond.toFixed(0).padStart(5)} MiB/s  event loop delay p99 ${r.loopP99Ms.toFixed(1)} ms, max ${r.loopMaxMs.toFixed(1)} ms`,
      );
  }
} finally {
  await pool.close();
  rmSync(SOURCE, { force: true });
  rmSync(TARGET, { recursive: true, force: true });
}
