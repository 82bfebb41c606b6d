/**
 * Image data throughput: Glimpse vs Glance 25 on the same machine, the same file, the same run.
 *   npx tsx bench/data-transfer.ts     (BENCH_DATA_GIB=2, BENCH_BIG_GIB=10, BENCH_DATA_STATE=/tmp/glimpse-bench-data)
 * Uploads and downloads a generated file through each server's file store with curl as the
 * client, reports MiB/s,
 * server CPU seconds and peak server RSS, the machine's hashing limit (md5 + sha512 of the same
 * bytes in one process), and Glimpse's RSS during a BENCH_BIG_GIB upload.
 */
import { prepareGlance, sh, startServers } from './bench-servers.js';
import { curl, headerArgs, putFileWithCurl } from './curl.js';
import { groupRssMiB } from './proc-stats.js';
import { call, observed, put, repeated, type Target, type Transfer } from './bench-http.js';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const SIZE = Number(process.env['BENCH_DATA_GIB'] ?? 2) * GIB;
const BIG = Number(process.env['BENCH_BIG_GIB'] ?? 10) * GIB;
const STATE = resolve(process.env['BENCH_DATA_STATE'] ?? '/tmp/glimpse-bench-data');
const GLANCE_PORT = 9597;
const GLIMPSE_PORT = 9598;

/** PUT of a file with curl -T. */
function upload(target: Target, id: string, file: string): Promise<void> {
  return putFileWithCurl(target, `/v2/images/${id}/file`, file);
}

/** GET of the image data with curl into /dev/null; the bytes received. */
async function download(target: Target, id: string): Promise<number> {
  const [status, bytes] = (
    await curl([...headerArgs(target), '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${target.url}/v2/images/${id}/file`])
  ).split(' ');
  if (status !== '200') throw new Error(`${target.name} download: ${status ?? ''}`);
  return Number(bytes);
}

async function startTargets(): Promise<{ glimpse: Target; glance: Target; stop: () => void }> {
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { recursive: true });
  prepareGlance(STATE, GLANCE_PORT, join(STATE, 'glance-images'));
  const servers = await startServers(
    STATE,
    GLANCE_PORT,
    GLIMPSE_PORT,
    // fsync off: Glance's file store does not fsync either, so both write through the page cache.
    `[DEFAULT]\nbind_port = ${GLIMPSE_PORT}\nworkers = 2\ndata_dir = ${STATE}/glimpse-data\nlog_file = ${STATE}/glimpse.log\n[glance_store]\nfilesystem_store_fsync = false\nfilesystem_store_direct_io = ${process.env['BENCH_DIRECT_IO'] ?? 'true'}\n[embedded_identity]\nuser_bench = bench-secret bench member,reader\n`,
  );
  const { glance, glimpse, stop } = servers;
  return {
    glimpse: { name: 'glimpse', url: `http://127.0.0.1:${GLIMPSE_PORT}`, headers: { 'x-auth-token': servers.token }, group: glimpse.pid ?? 0 },
    glance: {
      name: 'glance',
      url: `http://127.0.0.1:${GLANCE_PORT}`,
      headers: { 'x-identity-status': 'Confirmed', 'x-user-id': 'bench-user', 'x-project-id': 'bench-project', 'x-roles': 'member,reader' },
      group: glance.pid ?? 0,
    },
    stop,
  };
}

/**
 * The hashing limit: md5 and sha512 of the same bytes in one process, with nothing else to do.
 * The file is first read into shared memory, so no reading is counted: inline is both digests
 * on one thread, parallel is each on its own thread at once (what an upload's hash threads do).
 */
async function hashLimit(file: string): Promise<{ sequential: number; parallel: number }> {
  const bytes = new Uint8Array(new SharedArrayBuffer(SIZE));
  let filled = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 8 * MIB })) {
    bytes.set(chunk as Buffer, filled);
    filled += (chunk as Buffer).length;
  }
  const step = 8 * MIB;
  let started = process.hrtime.bigint();
  const md5 = createHash('md5');
  const sha = createHash('sha512');
  for (let at = 0; at < SIZE; at += step) {
    const piece = bytes.subarray(at, Math.min(SIZE, at + step));
    md5.update(piece);
    sha.update(piece);
  }
  md5.digest();
  sha.digest();
  const sequential = SIZE / MIB / (Number(process.hrtime.bigint() - started) / 1e9);
  const source = `const { createHash } = require('node:crypto'); const { parentPort, workerData } = require('node:worker_threads');
    const h = createHash(workerData.algorithm); const b = new Uint8Array(workerData.buffer);
    for (let at = 0; at < b.length; at += ${step}) h.update(b.subarray(at, Math.min(b.length, at + ${step})));
    parentPort.postMessage(h.digest('hex'));`;
  started = process.hrtime.bigint();
  await Promise.all(
    ['md5', 'sha512'].map(
      (algorithm) =>
        new Promise((resolveHash, reject) => {
          new Worker(source, { eval: true, workerData: { algorithm, buffer: bytes.buffer } }).once('message', resolveHash).once('error', reject);
        }),
    ),
  );
  const parallel = SIZE / MIB / (Number(process.hrtime.bigint() - started) / 1e9);
  return { sequential, parallel };
}

async function main(): Promise<void> {
  const { glimpse, glance, stop } = await startTargets();
  try {
    const file = join(STATE, 'image.raw');
    sh('sh', ['-c', `head -c ${SIZE} /dev/urandom > '${file}'`]);
    const expectedMd5 = sh('md5sum', [file]).split(' ')[0];
    // Best of three: the limit is what the machine can do, and this VM's speed varies from
    // minute to minute (the file was also just written and may still be going to disk).
    sh('sync', []);
    const limits = [await hashLimit(file), await hashLimit(file), await hashLimit(file)];
    const limit = { sequential: Math.max(...limits.map((l) => l.sequential)), parallel: Math.max(...limits.map((l) => l.parallel)) };
    console.log(`hash limit (in memory): md5+sha512 on one thread ${limit.sequential.toFixed(0)} MiB/s, on two threads ${limit.parallel.toFixed(0)} MiB/s`);

    type Kind = 'upload' | 'firstDownload' | 'secondDownload' | 'thirdDownload';
    const results: Record<string, Record<Kind, Transfer[]>> = {};
    const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
    for (let round = 0; round < rounds; round += 1) {
      // Alternating who goes first: this VM's first writes into fresh memory cost the most.
      for (const target of round % 2 === 0 ? [glimpse, glance] : [glance, glimpse]) {
        const entry = (results[target.name] ??= { upload: [], firstDownload: [], secondDownload: [], thirdDownload: [] });
        const image = await call(target, 'POST', '/v2/images', { name: `bench-${round}`, disk_format: 'raw', container_format: 'bare' });
        const id = String(image['id']);
        sh('sync', []);
        const uploaded = await observed(target, SIZE, () => upload(target, id, file));
        const shown = await call(target, 'GET', `/v2/images/${id}`);
        if (shown['checksum'] !== expectedMd5) throw new Error(`${target.name}: checksum ${String(shown['checksum'])} is not ${expectedMd5 ?? ''}`);
        // First download right after the upload (Glance's file is in the page cache, Glimpse's
        // was written with O_DIRECT and is read from disk with O_DIRECT), then twice more
        // (Glimpse reads the second through the page cache, and the third is cached for both).
        const downloads: Transfer[] = [];
        for (let i = 0; i < 3; i += 1) {
          let received = 0;
          downloads.push(
            await observed(target, SIZE, async () => {
              received = await download(target, id);
            }),
          );
          if (received !== SIZE) throw new Error(`${target.name}: downloaded ${received} of ${SIZE} bytes`);
        }
        const [first, second, third] = downloads as [Transfer, Transfer, Transfer];
        entry.upload.push(uploaded);
        entry.firstDownload.push(first);
        entry.secondDownload.push(second);
        entry.thirdDownload.push(third);
        await call(target, 'DELETE', `/v2/images/${id}`);
        const show = (t: Transfer): string => `${t.mibPerSecond.toFixed(0)} MiB/s (cpu ${t.cpuSeconds.toFixed(1)} s, rss ${t.peakRssMiB.toFixed(0)} MiB)`;
        console.log(`${target.name.padEnd(8)} round ${round}: upload ${show(uploaded)}, download ${show(first)}, again ${show(second)}, third ${show(third)}`);
      }
    }
    rmSync(file);

    const bigImage = String((await call(glimpse, 'POST', '/v2/images', { name: 'bench-big', disk_format: 'raw', container_format: 'bare' }))['id']);
    const rssIdle = groupRssMiB(glimpse.group);
    const big = await observed(glimpse, BIG, () => put(glimpse, bigImage, repeated(BIG), BIG));
    await call(glimpse, 'DELETE', `/v2/images/${bigImage}`);
    console.log(
      `glimpse ${BIG / GIB} GiB upload: ${big.mibPerSecond.toFixed(0)} MiB/s, RSS ${rssIdle.toFixed(0)} MiB before, peak ${big.peakRssMiB.toFixed(0)} MiB`,
    );

    const best = (list: readonly Transfer[]): Transfer => list.reduce((a, b) => (b.mibPerSecond > a.mibPerSecond ? b : a));
    const median = (list: readonly Transfer[]): number => {
      const sorted = list.map((t) => t.mibPerSecond).sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)] ?? 0;
    };
    const g = results['glimpse'];
    const o = results['glance'];
    if (g === undefined || o === undefined) throw new Error('no results');
    const summary = {
      date: new Date().toISOString(),
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / GIB).toFixed(0)} GiB`,
      sizeGiB: SIZE / GIB,
      client: 'curl',
      hashLimit: { best: limit, runs: limits },
      glimpse: {
        upload: best(g.upload),
        firstDownload: best(g.firstDownload),
        secondDownload: best(g.secondDownload),
        thirdDownload: best(g.thirdDownload),
        all: g,
      },
      glance: {
        upload: best(o.upload),
        firstDownload: best(o.firstDownload),
        secondDownload: best(o.secondDownload),
        thirdDownload: best(o.thirdDownload),
        all: o,
      },
      bigUpload: { sizeGiB: BIG / GIB, rssIdleMiB: rssIdle, ...big },
    };
    const date = summary.date.slice(0, 10);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/${date}-data.json`, `${JSON.stringify(summary, null, 2)}\n`);
    const row = (what: string, kind: Kind): string => {
      const a = best(g[kind]);
      const b = best(o[kind]);
      return `| ${what} | ${a.mibPerSecond.toFixed(0)} (${median(g[kind]).toFixed(0)}) | ${a.cpuSeconds.toFixed(1)} | ${a.peakRssMiB.toFixed(0)} | ${b.mibPerSecond.toFixed(0)} (${median(o[kind]).toFixed(0)}) | ${b.cpuSeconds.toFixed(1)} | ${b.peakRssMiB.toFixed(0)} | ${(a.mibPerSecond / b.mibPerSecond).toFixed(2)}× (${(median(g[kind]) / median(o[kind])).toFixed(2)}×) | ${(b.cpuSeconds / a.cpuSeconds).toFixed(2)}× |`;
    };
    const table = [
      `Run on ${summary.machine}, ${summary.date}, ${SIZE / GIB} GiB file, curl as the client, best of ${rounds} rounds (median in brackets); raw numbers in \`bench/results/${date}-data.json\`.`,
      '',
      '| transfer | Glimpse MiB/s | Glimpse CPU s | Glimpse peak RSS MiB | Glance MiB/s | Glance CPU s | Glance peak RSS MiB | speed ratio | CPU ratio (Glance/Glimpse) |',
      '|---|---|---|---|---|---|---|---|---|',
      row('upload', 'upload'),
      row('download, right after the upload', 'firstDownload'),
      row('download, second time', 'secondDownload'),
      row('download, third time', 'thirdDownload'),
      '',
      `Hashing limit of this machine (md5 + sha512 of the same ${SIZE / GIB} GiB, already in memory, one process, best of three): ${limit.sequential.toFixed(0)} MiB/s on one thread, ${limit.parallel.toFixed(0)} MiB/s with each digest on its own thread (runs: ${limits.map((l) => l.parallel.toFixed(0)).join(', ')}). Glimpse's upload = ${((summary.glimpse.upload.mibPerSecond / Math.max(limit.sequential, limit.parallel)) * 100).toFixed(0)} % (best) and ${((median(g.upload) / Math.max(limit.sequential, limit.parallel)) * 100).toFixed(0)} % (median) of the better of the two.`,
      '',
      `Glimpse RSS during a ${BIG / GIB} GiB upload: ${rssIdle.toFixed(0)} MiB before, ${big.peakRssMiB.toFixed(0)} MiB peak (server processes together), at ${big.mibPerSecond.toFixed(0)} MiB/s.`,
    ].join('\n');
    writeFileSync(`bench/results/${date}-data.md`, `${table}\n`);
    console.log(`\n${table}`);
  } finally {
    stop();
    if (existsSync(STATE) && statSync(STATE).isDirectory()) rmSync(STATE, { recursive: true, force: true });
  }
}

await main();
