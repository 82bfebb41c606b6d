/**
 * What the image-data benchmarks share: a server under test, a measured transfer, JSON calls,
 * a streamed upload and a generated body.
 */
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { groupCpuSeconds, sampleRss } from './proc-stats.js';

const MIB = 1024 ** 2;

/** A server under test: where it listens, how requests authenticate, its process group. */
export interface Target {
  readonly name: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly group: number;
}

export interface Transfer {
  readonly mibPerSecond: number;
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
}

/** Runs `work` while sampling the server group's RSS; MiB/s over `bytes`, CPU seconds and peak RSS. */
export async function observed(target: Pick<Target, 'group'>, bytes: number, work: () => Promise<void>): Promise<Transfer> {
  const rss = sampleRss(target.group, 100);
  const cpuBefore = groupCpuSeconds(target.group);
  const started = process.hrtime.bigint();
  let peakRssMiB = 0;
  try {
    await work();
  } finally {
    peakRssMiB = rss.stop().peakMiB;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { mibPerSecond: bytes / MIB / seconds, cpuSeconds: groupCpuSeconds(target.group) - cpuBefore, peakRssMiB };
}

/** A JSON request; fails unless the answer is 2xx. */
export async function call(target: Target, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${target.url}${path}`, {
    method,
    headers: { ...target.headers, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${target.name} ${method} ${path}: ${response.status} ${text}`);
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

/** PUT of the image data from a stream, with its Content-Length; fails unless the answer is 204. */
export function put(target: Target, id: string, body: Readable, size: number): Promise<void> {
  return new Promise((resolvePut, reject) => {
    const req = request(
      `${target.url}/v2/images/${id}/file`,
      { method: 'PUT', headers: { ...target.headers, 'content-type': 'application/octet-stream', 'content-length': String(size) } },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 204) resolvePut();
          else reject(new Error(`${target.name} upload: ${res.statusCode ?? 0}`));
        });
      },
    );
    req.on('error', reject);
    body.pipe(req);
  });
}

/** A stream of `size` bytes built from one MiB block, for the RSS runs (content is irrelevant). */
export function repeated(size: number): Readable {
  const block = Buffer.alloc(MIB, 7);
  for (let i = 0; i < block.length; i += 4096) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  let sent = 0;
  return new Readable({
    read() {
      const n = Math.min(MIB, size - sent);
      sent += n;
      this.push(n === 0 ? null : n === MIB ? block : block.subarray(0, n));
    },
  });
}
