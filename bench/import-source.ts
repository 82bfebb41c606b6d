/**
 * The web-download source of bench/import.ts: an HTTP server that streams deterministic
 * pseudo-random bytes with a Content-Length, `GET /image/<seed>/<bytes>`. The bytes are the
 * AES-128-CTR keystream of a key derived from the seed (OpenSSL with AES-NI: about 3 GiB/s on one
 * core here), so every fetch of a URL is the same bytes and the benchmark knows their md5 without
 * storing them. `GET /stats` tells how many fetches started, finished and were cut short.
 *   node --import tsx bench/import-source.ts <port>      (run by bench/import.ts)
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

/** The source's bytes for `seed`, `size` of them, in pieces of at most 1 MiB. */
export function* sourceChunks(seed: string, size: number): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  for (let sent = 0; sent < size; sent += CHUNK) yield cipher.update(ZEROS.subarray(0, Math.min(CHUNK, size - sent)));
}

/** The md5 (hex) of the source's bytes for `seed` and `size`. */
export function sourceMd5(seed: string, size: number): string {
  const md5 = createHash('md5');
  for (const chunk of sourceChunks(seed, size)) md5.update(chunk);
  return md5.digest('hex');
}

export interface SourceStats {
  started: number;
  finished: number;
  cutShort: number;
  bytes: number;
}

function serve(port: number): void {
  const stats: SourceStats = { started: 0, finished: 0, cutShort: 0, bytes: 0 };
  const server = createServer((req, res) => {
    if (req.url === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
      return;
    }
    const match = /^\/image\/([\w-]+)\/(\d+)$/.exec(req.url ?? '');
    if (match === null || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    const seed = match[1] ?? '';
    const size = Number(match[2]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    stats.started += 1;
    let closed = false;
    res.on('close', () => {
      closed = true;
      if (res.writableFinished) stats.finished += 1;
      else stats.cutShort += 1;
    });
    const chunks = sourceChunks(seed, size);
    const pump = (): void => {
      for (;;) {
        if (closed) return;
        const next = chunks.next();
        if (next.done === true) {
          res.end();
          return;
        }
        stats.bytes += next.value.length;
        if (!res.write(next.value)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  server.keepAliveTimeout = 5000;
  server.listen(port, '127.0.0.1', () => console.log(`source listening on ${port}`));
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) serve(Number(process.argv[2] ?? 9601));
