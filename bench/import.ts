/**
 * Interoperable import (reference §9): Glimpse vs Glance 25 on the same machine, in the same run.
 *   npx tsx bench/import.ts
 *   (BENCH_IMPORT_GIB=2, BENCH_IMPORT_CONCURRENT=50, BENCH_IMPORT_CONCURRENT_MIB=64, BENCH_IMPORT_ROUNDS=3,
 *    BENCH_IMPORT_WORKERS=2, BENCH_IMPORT_SCENARIOS=web,direct,concurrent, BENCH_IMPORT_TIMEOUT_S=1800,
 *    BENCH_IMPORT_STATE=/tmp/glimpse-bench-import)
 * Starts a local source (bench/import-source.ts: deterministic pseudo-random bytes with a
 * Content-Length), Glance 25 (`glance-api`, file store, staging in `node_staging_uri`, the
 * context-from-headers pipeline of bench-servers.ts, `[import_filtering_opts]` allowing the
 * source) and Glimpse (embedded identity, the same filtering options), 2 workers each. Scenarios,
 * each timed from the POST /import to the image being `active`, each image's md5 checked twice
 * (the server's `checksum`, and a download of its data) against the source's:
 *   web      web-download of BENCH_IMPORT_GIB from the source; `curl -o <file>` of the same URL
 *            in the same round is the source-bound baseline;
 *   direct   glance-direct of the same bytes: PUT /stage with curl -T (timed), then the import (timed);
 *   concurrent  BENCH_IMPORT_CONCURRENT web-downloads of BENCH_IMPORT_CONCURRENT_MIB each at once;
 *            time until all are active, and the server's RSS (all its processes) every 200 ms.
 * A failed measurement is recorded with its reason and the run goes on.
 */
import { curl, putFileWithCurl } from './curl.js';
import { type GlanceConfigExtra, prepareGlance, sh, startServers, waitFor } from './bench-servers.js';
import { sourceMd5 } from './import-source.js';
import { groupCpuSeconds, groupRssBreakdown, groupRssMiB, sampleRss } from './proc-stats.js';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const SIZE = Math.round(Number(env('BENCH_IMPORT_GIB', '2')) * GIB);
const COUNT = Number(env('BENCH_IMPORT_CONCURRENT', '50'));
const EACH = Math.round(Number(env('BENCH_IMPORT_CONCURRENT_MIB', '64')) * MIB);
const ROUNDS = Number(env('BENCH_IMPORT_ROUNDS', '3'));
const WORKERS = Number(env('BENCH_IMPORT_WORKERS', '2'));
const TIMEOUT_MS = Number(env('BENCH_IMPORT_TIMEOUT_S', '1800')) * 1000;
/**
 * An import that makes no visible progress this long is stuck: a single one still queued (or
 * uploading) with its lock held, or the concurrent ones with no image changing status. Glance on
 * SQLite leaves such imports behind (its task thread dies on "database is locked").
 */
const STALL_MS = Number(env('BENCH_IMPORT_STALL_S', '120')) * 1000;
/** Both servers' database: sqlite (files in the state directory) or postgresql (a throwaway cluster). */
const DB = env('BENCH_IMPORT_DB', 'sqlite');
const SCENARIOS = new Set(env('BENCH_IMPORT_SCENARIOS', 'web,direct,copy,concurrent').split(','));
/** Which servers are measured (both are started); one alone is for trying a change quickly, not for results. */
const MEASURED = new Set(env('BENCH_IMPORT_SERVERS', 'glimpse,glance').split(','));
const STATE = resolve(env('BENCH_IMPORT_STATE', '/tmp/glimpse-bench-import'));
const GLANCE_PORT = 9599;
const GLIMPSE_PORT = 9600;
const SOURCE_PORT = 9601;
const SOURCE = `http://127.0.0.1:${SOURCE_PORT}`;
const SINGLE_SEED = 'single';
/** How often a single import's image is looked at; the resolution of its time. */
const POLL_MS = 100;
/** How often the concurrent imports' images are listed (one request for all of them). */
const LIST_POLL_MS = 250;
const RSS_SAMPLE_MS = 200;

type ServerName = 'glimpse' | 'glance';

interface Target {
  readonly name: ServerName;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly group: number;
  /** Where the server stages imports (`[os_glance_staging_store]`), to see when a web-download has its bytes. */
  readonly stagingDir: string;
  /** An admin's headers: copy-image is admin-only on both servers by default. */
  readonly adminHeaders: Record<string, string>;
  /** The directory of the second store, where copy-image writes. */
  readonly secondStoreDir: string;
}

type Json = Record<string, unknown>;

/** One measurement, or why it failed. */
type Outcome<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly error: string };

interface ImportRun {
  readonly seconds: number;
  readonly mibPerSecond: number;
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
}

interface WebRun extends ImportRun {
  /** From the POST until the staged file had all its bytes (polled with the image), null if never seen. */
  readonly stagedSeconds: number | null;
}

interface DirectRun extends ImportRun {
  readonly stageSeconds: number;
  readonly importSeconds: number;
}

interface CurlRun {
  readonly seconds: number;
  readonly mibPerSecond: number;
}

interface ConcurrentRun {
  readonly count: number;
  readonly eachMiB: number;
  readonly succeeded: number;
  readonly failures: readonly string[];
  /** From the first POST /import to the last image active. */
  readonly allActiveSeconds: number;
  /** Each image's time from the first POST to active, sorted. */
  readonly perImageSeconds: readonly number[];
  readonly aggregateMiBPerSecond: number;
  readonly cpuSeconds: number;
  readonly rssIdleMiB: number;
  /** The server's processes before the imports, with their RSS. */
  readonly rssIdleProcesses: readonly { pid: number; command: string; rssMiB: number }[];
  readonly peakRssMiB: number;
  readonly rssSamples: number;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const since = (started: bigint): number => Number(process.hrtime.bigint() - started) / 1e9;

async function call(target: Target, method: string, path: string, body?: unknown, as: 'user' | 'admin' = 'user'): Promise<Json> {
  const response = await fetch(`${target.url}${path}`, {
    method,
    headers: {
      ...(as === 'admin' ? target.adminHeaders : target.headers),
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${target.name} ${method} ${path}: ${response.status} ${text.slice(0, 500)}`);
  return text === '' ? {} : (JSON.parse(text) as Json);
}

const sourceUrl = (seed: string, size: number): string => `${SOURCE}/image/${seed}/${size}`;

async function createImage(target: Target, name: string): Promise<string> {
  const image = await call(target, 'POST', '/v2/images', { name, disk_format: 'raw', container_format: 'bare' });
  return String(image['id']);
}

async function deleteImage(target: Target, id: string): Promise<void> {
  try {
    await call(target, 'DELETE', `/v2/images/${id}`);
  } catch (error) {
    console.log(`  (could not delete ${target.name} image ${id}: ${errorText(error)})`);
  }
}

/** Why an import failed, as the server tells it (the task's message, Glimpse's failure property). */
async function failureReason(target: Target, image: Json): Promise<string> {
  const parts = [`status ${String(image['status'])}`];
  for (const key of ['os_glimpse_import_failure', 'os_glance_failed_import'])
    if (typeof image[key] === 'string' && image[key] !== '') parts.push(`${key}=${image[key]}`);
  try {
    const tasks = (await call(target, 'GET', `/v2/images/${String(image['id'])}/tasks`))['tasks'];
    const last = Array.isArray(tasks) ? (tasks as Json[])[0] : undefined;
    if (last !== undefined) parts.push(`task ${String(last['status'])}: ${String(last['message'])}`);
  } catch (error) {
    parts.push(`(tasks: ${errorText(error)})`);
  }
  return parts.join('; ');
}

/**
 * Whether an import of this image is over: `active`, or failed — back to queued (or still
 * uploading, for glance-direct) with the import lock released. Both servers take the lock
 * before they answer 202, so right after the POST a waiting image still holds it.
 */
function importState(image: Json): 'active' | 'failed' | 'running' {
  const status = image['status'];
  if (status === 'active') return 'active';
  if (status === 'importing') return 'running';
  if ((status === 'queued' || status === 'uploading') && image['os_glance_import_task'] !== undefined && image['os_glance_import_task'] !== '')
    return 'running';
  return 'failed';
}

/** The size of the image's staged file, or null (Glimpse links it into place whole; Glance writes it in place). */
function stagedBytes(target: Target, id: string): number | null {
  try {
    return statSync(join(target.stagingDir, id)).size;
  } catch {
    return null;
  }
}

/**
 * Waits until the image is active (polling every POLL_MS); throws with the reason when the import
 * failed or is stuck. Returns when the staged file was first seen with `stagedSize` bytes.
 */
async function waitActive(target: Target, id: string, started: bigint, stagedSize: number): Promise<{ stagedSeconds: number | null }> {
  let stagedSeconds: number | null = null;
  for (;;) {
    const image = await call(target, 'GET', `/v2/images/${id}`);
    if (stagedSeconds === null && stagedBytes(target, id) === stagedSize) stagedSeconds = since(started);
    const state = importState(image);
    if (state === 'active') return { stagedSeconds };
    if (state === 'failed') throw new Error(`${target.name} import of ${id} failed: ${await failureReason(target, image)}`);
    const elapsed = since(started) * 1000;
    if (elapsed > TIMEOUT_MS) throw new Error(`${target.name} import of ${id} not active after ${TIMEOUT_MS / 1000} s: ${await failureReason(target, image)}`);
    if (image['status'] !== 'importing' && elapsed > STALL_MS)
      throw new Error(`${target.name} import of ${id} stuck, not importing after ${STALL_MS / 1000} s: ${await failureReason(target, image)}`);
    await sleep(POLL_MS);
  }
}

/** The image's md5 checked twice: its `checksum` and `size`, then the md5 of a download of its data. */
async function verify(target: Target, id: string, md5: string, size: number, shown?: Json): Promise<void> {
  const image = shown ?? (await call(target, 'GET', `/v2/images/${id}`));
  if (image['checksum'] !== md5) throw new Error(`${target.name} image ${id}: checksum ${String(image['checksum'])}, the source's md5 is ${md5}`);
  if (image['size'] !== size) throw new Error(`${target.name} image ${id}: size ${String(image['size'])}, the source sent ${size}`);
  const response = await fetch(`${target.url}/v2/images/${id}/file`, { headers: target.headers });
  if (response.status !== 200 || response.body === null) throw new Error(`${target.name} download of ${id}: ${response.status}`);
  const hash = createHash('md5');
  let received = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    received += chunk.length;
  }
  const downloaded = hash.digest('hex');
  if (downloaded !== md5 || received !== size)
    throw new Error(`${target.name} image ${id}: downloaded ${received} bytes with md5 ${downloaded}, expected ${size} / ${md5}`);
}

/** Runs `work` with the server's CPU and RSS observed; `bytes` over the time is the rate. */
async function observed<T extends { seconds: number }>(target: Target, bytes: number, work: () => Promise<T>): Promise<T & ImportRun> {
  const rss = sampleRss(target.group, RSS_SAMPLE_MS);
  const cpuBefore = groupCpuSeconds(target.group);
  let peakRssMiB = 0;
  let result: T;
  try {
    result = await work();
  } finally {
    peakRssMiB = rss.stop().peakMiB;
  }
  return { ...result, mibPerSecond: bytes / MIB / result.seconds, cpuSeconds: groupCpuSeconds(target.group) - cpuBefore, peakRssMiB };
}

/** Catches a measurement's failure so the run goes on; prints either way. */
/** Whether anything failed: then the servers' logs are kept, in `${STATE}-logs`. */
let sawFailure = false;

async function attempt<T>(label: string, work: () => Promise<T>, show: (value: T) => string): Promise<Outcome<T>> {
  try {
    const value = await work();
    console.log(`  ${label}: ${show(value)}`);
    return { ok: true, ...value };
  } catch (error) {
    console.log(`  ${label}: FAILED ${errorText(error)}`);
    sawFailure = true;
    return { ok: false, error: errorText(error) };
  }
}

/** Scenario 1, one server: web-download of SIZE bytes. */
async function webDownload(target: Target, md5: string, round: number): Promise<WebRun> {
  const id = await createImage(target, `web-${round}`);
  try {
    sh('sync', []);
    const run = await observed(target, SIZE, async () => {
      const started = process.hrtime.bigint();
      await call(target, 'POST', `/v2/images/${id}/import`, { method: { name: 'web-download', uri: sourceUrl(SINGLE_SEED, SIZE) } });
      const { stagedSeconds } = await waitActive(target, id, started, SIZE);
      return { seconds: since(started), stagedSeconds };
    });
    await verify(target, id, md5, SIZE);
    return run;
  } finally {
    await deleteImage(target, id);
  }
}

/** Scenario 2, one server: stage the file with curl -T, then glance-direct. */
async function glanceDirect(target: Target, file: string, md5: string, round: number): Promise<DirectRun> {
  const id = await createImage(target, `direct-${round}`);
  try {
    sh('sync', []);
    const run = await observed(target, SIZE, async () => {
      const started = process.hrtime.bigint();
      await putFileWithCurl(target, `/v2/images/${id}/stage`, file);
      const stageSeconds = since(started);
      const importStarted = process.hrtime.bigint();
      await call(target, 'POST', `/v2/images/${id}/import`, { method: { name: 'glance-direct' } });
      await waitActive(target, id, importStarted, SIZE);
      return { seconds: since(started), stageSeconds, importSeconds: since(importStarted) };
    });
    await verify(target, id, md5, SIZE);
    return run;
  } finally {
    await deleteImage(target, id);
  }
}

/**
 * The reference for glance-direct's import step: a plain upload (PUT /file with curl -T) of the
 * same file, the same ingest (hashes, format inspection, store) fed from a socket, not from staging.
 */
async function upload(target: Target, file: string, md5: string, round: number): Promise<ImportRun> {
  const id = await createImage(target, `upload-${round}`);
  try {
    sh('sync', []);
    const run = await observed(target, SIZE, async () => {
      const started = process.hrtime.bigint();
      await putFile(target, id, file);
      return { seconds: since(started) };
    });
    await verify(target, id, md5, SIZE);
    return run;
  } finally {
    await deleteImage(target, id);
  }
}

/** PUT /file of `file` with curl -T. */
function putFile(target: Target, id: string, file: string): Promise<void> {
  return putFileWithCurl(target, `/v2/images/${id}/file`, file);
}

/**
 * Scenario 3, one server: copy-image of an active image of SIZE bytes (uploaded first, not timed)
 * from the default store into the second, timed from the POST until the image lists the second
 * store with nothing left importing; the copy's file in the second store is checked against the
 * source's md5.
 */
async function copyImage(target: Target, file: string, md5: string, round: number): Promise<ImportRun> {
  const id = await createImage(target, `copy-${round}`);
  try {
    await putFile(target, id, file);
    sh('sync', []);
    const run = await observed(target, SIZE, async () => {
      const started = process.hrtime.bigint();
      await call(target, 'POST', `/v2/images/${id}/import`, { method: { name: 'copy-image' }, stores: ['second'] }, 'admin');
      for (;;) {
        const image = await call(target, 'GET', `/v2/images/${id}`, undefined, 'admin');
        const text = (key: string): string => (typeof image[key] === 'string' ? image[key] : '');
        if (text('stores').split(',').includes('second') && text('os_glance_importing_to_stores') === '') break;
        if (text('os_glance_failed_import').includes('second')) throw new Error(`${target.name} copy of ${id} failed: ${await failureReason(target, image)}`);
        if (since(started) * 1000 > TIMEOUT_MS) throw new Error(`${target.name} copy of ${id} not done after ${TIMEOUT_MS / 1000} s`);
        await sleep(POLL_MS);
      }
      return { seconds: since(started) };
    });
    const copied = sh('md5sum', [join(target.secondStoreDir, id)]).split(' ')[0];
    if (copied !== md5) throw new Error(`${target.name} copy of ${id} in the second store has md5 ${copied ?? '?'}, expected ${md5}`);
    return run;
  } finally {
    await deleteImage(target, id);
  }
}

/** The source-bound baseline: curl of the same URL into a file (left in place for glance-direct). */
async function curlToFile(file: string, md5: string): Promise<CurlRun> {
  rmSync(file, { force: true });
  sh('sync', []);
  const started = process.hrtime.bigint();
  const out = await curl(['-o', file, '-w', '%{http_code} %{size_download}', sourceUrl(SINGLE_SEED, SIZE)]);
  const seconds = since(started);
  const [status, bytes] = out.split(' ');
  if (status !== '200' || Number(bytes) !== SIZE) throw new Error(`curl: ${out}`);
  const written = sh('md5sum', [file]).split(' ')[0];
  if (written !== md5) throw new Error(`curl's file has md5 ${written ?? ''}, the source's is ${md5}`);
  return { seconds, mibPerSecond: SIZE / MIB / seconds };
}

/** The baseline of scenario 3: COUNT curls of the same URLs at once, each into a file. */
async function concurrentCurl(): Promise<CurlRun> {
  const dir = join(STATE, 'curl-concurrent');
  mkdirSync(dir, { recursive: true });
  sh('sync', []);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: COUNT }, async (_, i) => {
      const out = await curl(['-o', join(dir, String(i)), '-w', '%{http_code} %{size_download}', sourceUrl(`c${i}`, EACH)]);
      if (out !== `200 ${EACH}`) throw new Error(`curl ${i}: ${out}`);
    }),
  );
  const seconds = since(started);
  rmSync(dir, { recursive: true, force: true });
  return { seconds, mibPerSecond: (COUNT * EACH) / MIB / seconds };
}

/** Scenario 3, one server: COUNT web-downloads of EACH bytes at once. */
async function concurrentImports(target: Target, md5s: readonly string[]): Promise<ConcurrentRun> {
  const ids: string[] = [];
  try {
    for (let i = 0; i < COUNT; i += 1) ids.push(await createImage(target, `concurrent-${i}`));
    sh('sync', []);
    await sleep(1000);
    const rssIdleMiB = groupRssMiB(target.group);
    const rssIdleProcesses = groupRssBreakdown(target.group);
    const rss = sampleRss(target.group, RSS_SAMPLE_MS);
    const cpuBefore = groupCpuSeconds(target.group);
    const started = process.hrtime.bigint();
    const failures = new Map<string, string>();
    const activeAt = new Map<string, number>();
    const shown = new Map<string, Json>();
    const posts = await Promise.allSettled(
      ids.map((id, i) => call(target, 'POST', `/v2/images/${id}/import`, { method: { name: 'web-download', uri: sourceUrl(`c${i}`, EACH) } })),
    );
    const pending = new Set<string>();
    const lastStatus = new Map<string, unknown>();
    let progressAt = 0;
    posts.forEach((post, i) => {
      const id = ids[i] ?? '';
      if (post.status === 'fulfilled') pending.add(id);
      else failures.set(id, `POST /import: ${errorText(post.reason)}`);
    });
    while (pending.size > 0) {
      await sleep(LIST_POLL_MS);
      const now = since(started);
      const images = (await call(target, 'GET', '/v2/images?limit=1000'))['images'] as Json[];
      for (const image of images) {
        const id = String(image['id']);
        if (!pending.has(id)) continue;
        if (lastStatus.get(id) !== image['status']) {
          lastStatus.set(id, image['status']);
          progressAt = now;
        }
        const state = importState(image);
        if (state === 'running') continue;
        pending.delete(id);
        if (state === 'active') {
          activeAt.set(id, now);
          shown.set(id, image);
        } else failures.set(id, await failureReason(target, image));
      }
      if (now * 1000 > TIMEOUT_MS || (now - progressAt) * 1000 > STALL_MS) {
        const why = now * 1000 > TIMEOUT_MS ? `not active after ${TIMEOUT_MS / 1000} s` : `stuck: no image changed status for ${STALL_MS / 1000} s`;
        for (const image of images) if (pending.has(String(image['id']))) failures.set(String(image['id']), `${why}; ${await failureReason(target, image)}`);
        for (const id of pending) if (!failures.has(id)) failures.set(id, why);
        break;
      }
    }
    const allActiveSeconds = Math.max(0, ...activeAt.values());
    const cpuSeconds = groupCpuSeconds(target.group) - cpuBefore;
    const { peakMiB, samples } = rss.stop();
    // Verified after the clock stopped: every active image's checksum and downloaded data.
    for (const [i, id] of ids.entries()) {
      const image = shown.get(id);
      if (image === undefined) continue;
      try {
        await verify(target, id, md5s[i] ?? '', EACH, image);
      } catch (error) {
        failures.set(id, errorText(error));
      }
    }
    if (failures.size > 0) sawFailure = true;
    return {
      count: COUNT,
      eachMiB: EACH / MIB,
      succeeded: COUNT - failures.size,
      failures: [...failures.entries()].map(([id, reason]) => `${id}: ${reason}`),
      allActiveSeconds,
      perImageSeconds: [...activeAt.values()].sort((a, b) => a - b),
      aggregateMiBPerSecond: (activeAt.size * EACH) / MIB / allActiveSeconds,
      cpuSeconds,
      rssIdleMiB,
      rssIdleProcesses,
      peakRssMiB: peakMiB,
      rssSamples: samples,
    };
  } finally {
    for (const id of ids) await deleteImage(target, id);
  }
}

function startSource(): { group: number; stop: () => void; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('bench/import-source.ts'), String(SOURCE_PORT)], { stdio: 'ignore', detached: true });
  return {
    group: child.pid ?? 0,
    stop: () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    },
    ready: waitFor(`${SOURCE}/stats`, child),
  };
}

const glanceExtra = (database: string | undefined): GlanceConfigExtra => ({
  ...(database === undefined ? {} : { database }),
  // Multi-store, as copy-image needs: two file stores, staging in the reserved staging store.
  defaults: `enabled_import_methods = [glance-direct,web-download,copy-image]\nenabled_backends = fast:file, second:file\n`,
  glanceStore:
    `[glance_store]\ndefault_backend = fast\n[fast]\nfilesystem_store_datadir = ${STATE}/glance-fast/\n[second]\nfilesystem_store_datadir = ${STATE}/glance-second/\n` +
    `[os_glance_staging_store]\nfilesystem_store_datadir = ${STATE}/glance-staging/\n[os_glance_tasks_store]\nfilesystem_store_datadir = ${STATE}/glance-tasks/\n`,
  // Glance's lists with bounds must be bracketed: without, oslo.config rejects the value and the
  // API answers every web-download with "does not pass filtering".
  sections: `[import_filtering_opts]\nallowed_hosts = [127.0.0.1]\nallowed_ports = [${SOURCE_PORT}]\n`,
});

const glimpseConfig = (database: string | undefined): string =>
  (database === undefined ? '' : `[database]\nconnection = ${database}\n`) +
  `[DEFAULT]\nbind_port = ${GLIMPSE_PORT}\nworkers = ${WORKERS}\ndata_dir = ${STATE}/glimpse-data\nlog_file = ${STATE}/glimpse.log\n` +
  `enabled_import_methods = glance-direct,web-download,copy-image\nenabled_backends = fast:file, second:file\n` +
  // fsync off for the stores, as in data-transfer.ts: Glance's file store does not fsync either
  // (and staging follows the default store).
  `[glance_store]\ndefault_backend = fast\n` +
  `[fast]\nfilesystem_store_datadir = ${STATE}/glimpse-fast\nfilesystem_store_fsync = false\n` +
  `[second]\nfilesystem_store_datadir = ${STATE}/glimpse-second\nfilesystem_store_fsync = false\n` +
  `[os_glance_staging_store]\nfilesystem_store_datadir = ${STATE}/glimpse-staging\n` +
  `[import_filtering_opts]\nallowed_hosts = 127.0.0.1\nallowed_ports = ${SOURCE_PORT}\n` +
  `[embedded_identity]\nuser_bench = bench-secret bench member,reader\nuser_benchadmin = bench-secret bench admin,member,reader\n`;

/** A token of a Glimpse embedded user (password `bench-secret`, project `bench`). */
async function glimpseToken(user: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${GLIMPSE_PORT}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password: 'bench-secret' } } } },
    }),
  });
  const token = response.headers.get('x-subject-token');
  if (response.status !== 201 || token === null) throw new Error(`Glimpse login of ${user}: ${response.status}`);
  return token;
}

/** The results' file name after the date: `-import`, then the database unless SQLite, then BENCH_IMPORT_TAG. */
const SUFFIX = `${DB === 'sqlite' ? '' : `-${DB}`}${process.env['BENCH_IMPORT_TAG'] === undefined ? '' : `-${process.env['BENCH_IMPORT_TAG']}`}`;

/**
 * A throwaway PostgreSQL cluster (scripts/postgres-test-server.sh: runs as `postgres`, fsync off)
 * with a database for each server.
 */
function startPostgres(): { glimpse: string; glance: string; stop: () => void } {
  const stateFile = `${STATE}-pg.state`;
  const pgEnv = { ...process.env, GLIMPSE_PG_STATE: stateFile, GLIMPSE_PG_PORT: '55600' };
  const url = sh('scripts/postgres-test-server.sh', ['start'], pgEnv).trim();
  const stop = (): void => void spawnSync('scripts/postgres-test-server.sh', ['stop'], { env: pgEnv });
  try {
    const state = new Map(
      sh('cat', [stateFile])
        .split('\n')
        .map((line): [string, string] => [line.split('=')[0] ?? '', line.slice(line.indexOf('=') + 1)]),
    );
    const psql = sh('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1']).trim() + '/psql';
    sh('runuser', [
      '-u',
      'postgres',
      '--',
      psql,
      '-h',
      state.get('BASE') ?? '',
      '-p',
      state.get('PORT') ?? '',
      '-U',
      'postgres',
      '-X',
      '-q',
      '-c',
      'CREATE DATABASE glance OWNER glimpse',
    ]);
    const glance = url.replace(/^postgresql:/, 'postgresql+psycopg2:').replace(/\/glimpse$/, '/glance');
    return { glimpse: url, glance, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

function gitDescription(): { commit: string; dirty: string[] } {
  const run = (args: string[]): string => spawnSync('git', args, { encoding: 'utf8' }).stdout.trim();
  return {
    commit: run(['rev-parse', 'HEAD']),
    dirty: run(['status', '--short', 'src', 'bin', 'native'])
      .split('\n')
      .filter((l) => l !== ''),
  };
}

const fixed = (n: number, digits = 1): string => n.toFixed(digits);

function best<T>(outcomes: readonly Outcome<T>[], key: (value: T) => number): { best: T | null; median: number | null; failed: number } {
  const ok = outcomes.filter((o): o is { ok: true } & T => o.ok);
  if (ok.length === 0) return { best: null, median: null, failed: outcomes.length };
  const sorted = [...ok].sort((a, b) => key(a) - key(b));
  return { best: sorted[0] ?? null, median: key(sorted[Math.floor((sorted.length - 1) / 2)]!), failed: outcomes.length - ok.length };
}

async function main(): Promise<void> {
  if (SCENARIOS.has('web') || SCENARIOS.has('direct')) console.log(`disk: ${sh('df', ['-h', '/tmp']).split('\n')[1] ?? ''}`);
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { recursive: true });
  const md5 = sourceMd5(SINGLE_SEED, SIZE);
  const md5s = SCENARIOS.has('concurrent') ? Array.from({ length: COUNT }, (_, i) => sourceMd5(`c${i}`, EACH)) : [];
  console.log(`source md5 of ${SIZE / MIB} MiB: ${md5}`);
  const loadAtStart = loadavg();
  const postgres = DB === 'postgresql' ? startPostgres() : null;
  const source = startSource();
  let stopServers = (): void => undefined;
  const config = { glimpse: glimpseConfig(postgres?.glimpse), glanceExtra: glanceExtra(postgres?.glance) };
  try {
    await source.ready;
    prepareGlance(STATE, GLANCE_PORT, join(STATE, 'glance-fast'), config.glanceExtra);
    const servers = await startServers(STATE, GLANCE_PORT, GLIMPSE_PORT, config.glimpse);
    stopServers = servers.stop;
    const glimpse: Target = {
      name: 'glimpse',
      url: `http://127.0.0.1:${GLIMPSE_PORT}`,
      headers: { 'x-auth-token': servers.token },
      group: servers.glimpse.pid ?? 0,
      stagingDir: join(STATE, 'glimpse-staging'),
      adminHeaders: { 'x-auth-token': await glimpseToken('benchadmin') },
      secondStoreDir: join(STATE, 'glimpse-second'),
    };
    const glance: Target = {
      name: 'glance',
      url: `http://127.0.0.1:${GLANCE_PORT}`,
      headers: { 'x-identity-status': 'Confirmed', 'x-user-id': 'bench-user', 'x-project-id': 'bench-project', 'x-roles': 'member,reader' },
      group: servers.glance.pid ?? 0,
      stagingDir: join(STATE, 'glance-staging'),
      adminHeaders: { 'x-identity-status': 'Confirmed', 'x-user-id': 'bench-admin', 'x-project-id': 'bench-project', 'x-roles': 'admin,member,reader' },
      secondStoreDir: join(STATE, 'glance-second'),
    };
    const atStart = { glimpse: groupRssBreakdown(glimpse.group), glance: groupRssBreakdown(glance.group) };
    const methods: Record<string, unknown> = {};
    for (const target of [glimpse, glance]) methods[target.name] = (await call(target, 'GET', '/v2/info/import'))['import-methods'];
    console.log(`import methods: ${JSON.stringify(methods)}`);
    const orders = (round: number): Target[] => (round % 2 === 0 ? [glimpse, glance] : [glance, glimpse]).filter((t) => MEASURED.has(t.name));
    const file = join(STATE, 'source.raw');

    const web = { curl: [] as Outcome<CurlRun>[], glimpse: [] as Outcome<WebRun>[], glance: [] as Outcome<WebRun>[] };
    const showImport = (r: WebRun): string =>
      `${fixed(r.seconds, 2)} s (staged at ${r.stagedSeconds === null ? '?' : fixed(r.stagedSeconds, 2)} s), ${fixed(r.mibPerSecond, 0)} MiB/s, cpu ${fixed(r.cpuSeconds)} s, rss ${fixed(r.peakRssMiB, 0)} MiB`;
    if (SCENARIOS.has('web')) {
      console.log(`\nweb-download of ${SIZE / MIB} MiB`);
      for (let round = 0; round < ROUNDS; round += 1) {
        web.curl.push(
          await attempt(
            `round ${round} curl -o file`,
            () => curlToFile(file, md5),
            (r) => `${fixed(r.seconds, 2)} s, ${fixed(r.mibPerSecond, 0)} MiB/s`,
          ),
        );
        for (const target of orders(round))
          web[target.name].push(await attempt(`round ${round} ${target.name}`, () => webDownload(target, md5, round), showImport));
      }
    }

    const direct = { glimpse: [] as Outcome<DirectRun>[], glance: [] as Outcome<DirectRun>[] };
    const uploads = { glimpse: [] as Outcome<ImportRun>[], glance: [] as Outcome<ImportRun>[] };
    if (SCENARIOS.has('direct')) {
      console.log(`\nglance-direct of ${SIZE / MIB} MiB`);
      if (!existsSync(file)) await curlToFile(file, md5);
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const target of orders(round)) {
          direct[target.name].push(
            await attempt(
              `round ${round} ${target.name}`,
              () => glanceDirect(target, file, md5, round),
              (r) => `stage ${fixed(r.stageSeconds, 2)} s + import ${fixed(r.importSeconds, 2)} s = ${fixed(r.seconds, 2)} s, cpu ${fixed(r.cpuSeconds)} s`,
            ),
          );
          uploads[target.name].push(
            await attempt(
              `round ${round} ${target.name} reference: PUT /file`,
              () => upload(target, file, md5, round),
              (r) => `${fixed(r.seconds, 2)} s, ${fixed(r.mibPerSecond, 0)} MiB/s, cpu ${fixed(r.cpuSeconds)} s`,
            ),
          );
        }
      }
    }

    const copies = { glimpse: [] as Outcome<ImportRun>[], glance: [] as Outcome<ImportRun>[] };
    if (SCENARIOS.has('copy')) {
      console.log(`\ncopy-image of ${SIZE / MIB} MiB to a second store`);
      if (!existsSync(file)) await curlToFile(file, md5);
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const target of orders(round))
          copies[target.name].push(
            await attempt(
              `round ${round} ${target.name}`,
              () => copyImage(target, file, md5, round),
              (r) => `${fixed(r.seconds, 2)} s, ${fixed(r.mibPerSecond, 0)} MiB/s, cpu ${fixed(r.cpuSeconds)} s, rss ${fixed(r.peakRssMiB, 0)} MiB`,
            ),
          );
      }
    }
    rmSync(file, { force: true });

    const concurrent = {
      curl: null as Outcome<CurlRun> | null,
      glimpse: null as Outcome<ConcurrentRun> | null,
      glance: null as Outcome<ConcurrentRun> | null,
    };
    if (SCENARIOS.has('concurrent')) {
      console.log(`\n${COUNT} concurrent web-downloads of ${EACH / MIB} MiB`);
      concurrent.curl = await attempt(`${COUNT} curl -o file at once`, concurrentCurl, (r) => `${fixed(r.seconds, 2)} s, ${fixed(r.mibPerSecond, 0)} MiB/s`);
      for (const target of [glimpse, glance].filter((t) => MEASURED.has(t.name))) {
        concurrent[target.name] = await attempt(
          target.name,
          () => concurrentImports(target, md5s),
          (r) =>
            `${r.succeeded}/${r.count} active in ${fixed(r.allActiveSeconds, 2)} s (${fixed(r.aggregateMiBPerSecond, 0)} MiB/s), cpu ${fixed(r.cpuSeconds)} s, RSS idle ${fixed(r.rssIdleMiB, 0)} MiB, peak ${fixed(r.peakRssMiB, 0)} MiB${r.failures.length > 0 ? `; failures: ${r.failures.slice(0, 3).join(' | ')}` : ''}`,
        );
      }
    }
    const sourceStats = await (await fetch(`${SOURCE}/stats`)).json();
    stopServers();
    stopServers = () => undefined;

    // Summary, targets and the table.
    const webCurl = best(web.curl, (r) => r.seconds);
    const webG = best(web.glimpse, (r) => r.seconds);
    const webO = best(web.glance, (r) => r.seconds);
    const dirG = best(direct.glimpse, (r) => r.seconds);
    const dirO = best(direct.glance, (r) => r.seconds);
    const conG = concurrent.glimpse?.ok === true ? concurrent.glimpse : null;
    const conO = concurrent.glance?.ok === true ? concurrent.glance : null;
    const ratio = (glanceS: number | null | undefined, glimpseS: number | null | undefined): number | null =>
      glanceS != null && glimpseS != null ? glanceS / glimpseS : null;
    const webRatio = ratio(webO.median, webG.median);
    const webVsCurl = webG.median !== null && webCurl.median !== null ? webG.median / webCurl.median : null;
    const directRatio = ratio(dirO.median, dirG.median);
    const copyG = best(copies.glimpse, (r) => r.seconds);
    const copyO = best(copies.glance, (r) => r.seconds);
    const copyRatio = ratio(copyO.median, copyG.median);
    const rssLimitMiB = 500e6 / MIB;
    const targets = {
      webDownload: { ratioMedian: webRatio, glimpseOverCurlMedian: webVsCurl, met: (webRatio ?? 0) >= 2 || (webVsCurl !== null && webVsCurl <= 1.1) },
      glanceDirect: { ratioMedian: directRatio, met: (directRatio ?? 0) >= 2 },
      copyImage: { ratioMedian: copyRatio, met: (copyRatio ?? 0) >= 2 },
      concurrent: {
        glimpseFailures: conG === null ? null : conG.count - conG.succeeded,
        glimpsePeakRssMiB: conG?.peakRssMiB ?? null,
        met: conG !== null && conG.succeeded === conG.count && conG.peakRssMiB < rssLimitMiB,
      },
    };
    const date = new Date().toISOString();
    const day = date.slice(0, 10);
    const summary = {
      date,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / GIB).toFixed(0)} GiB`,
      git: gitDescription(),
      glance: sh('dpkg-query', ['-W', '-f', '${Version}', 'glance-api']),
      settings: {
        sizeMiB: SIZE / MIB,
        rounds: ROUNDS,
        workers: WORKERS,
        concurrent: COUNT,
        concurrentEachMiB: EACH / MIB,
        pollMs: POLL_MS,
        listPollMs: LIST_POLL_MS,
        rssSampleMs: RSS_SAMPLE_MS,
      },
      database: DB,
      // Other work on this shared machine shows here (1, 5, 15 min load averages).
      loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
      config,
      importMethods: methods,
      processesAtStart: atStart,
      sourceMd5: md5,
      webDownload: web,
      glanceDirect: direct,
      uploadReference: uploads,
      copyImage: copies,
      concurrent,
      source: sourceStats,
      targets,
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/${day}-import${SUFFIX}.json`, `${JSON.stringify(summary, null, 2)}\n`);

    const cell = (value: number | null | undefined, digits = 2): string => (value == null ? 'failed' : fixed(value, digits));
    const rate = (seconds: number | null | undefined, bytes: number): string => (seconds == null ? '' : ` (${fixed(bytes / MIB / seconds, 0)} MiB/s)`);
    const times = (list: readonly Outcome<{ seconds: number }>[]): string => list.map((o) => (o.ok ? fixed(o.seconds, 2) : 'failed')).join(', ');
    const x = (value: number | null): string => (value === null ? '–' : `${fixed(value, 2)}×`);
    const stageG = median(direct.glimpse, (r) => r.stageSeconds);
    const stageO = median(direct.glance, (r) => r.stageSeconds);
    const importG = median(direct.glimpse, (r) => r.importSeconds);
    const importO = median(direct.glance, (r) => r.importSeconds);
    const stagedG = median(web.glimpse, (r) => r.stagedSeconds ?? Number.NaN);
    const stagedO = median(web.glance, (r) => r.stagedSeconds ?? Number.NaN);
    const upG = median(uploads.glimpse, (r) => r.seconds);
    const upO = median(uploads.glance, (r) => r.seconds);
    const seconds = (value: number | null, bytes: number): string => (value === null ? 'failed' : `${fixed(value, 2)}${rate(value, bytes)}`);
    const row = (label: string, glimpseS: number | null, glanceS: number | null, bytes: number, baseline = ''): string =>
      `| ${label} | ${seconds(glimpseS, bytes)} | ${seconds(glanceS, bytes)} | ${x(ratio(glanceS, glimpseS))} | ${baseline} |`;
    const concurrentCell = (r: ConcurrentRun | null): string =>
      r === null ? 'failed' : `${fixed(r.allActiveSeconds, 2)}${rate(r.allActiveSeconds, r.succeeded * EACH)}, ${r.succeeded}/${r.count} ok`;
    const only = (scenario: string, rows: readonly string[]): readonly string[] => (SCENARIOS.has(scenario) ? rows : []);
    const cpu = (name: string, value: number | null | undefined, scenario: string): string[] => (SCENARIOS.has(scenario) ? [`${name} ${cell(value, 1)}`] : []);
    const targetsText = [
      ...only('web', [`web-download ${targets.webDownload.met ? 'met' : 'NOT met'} (${x(webRatio)})`]),
      ...only('direct', [`glance-direct ${targets.glanceDirect.met ? 'met' : 'NOT met'} (${x(directRatio)})`]),
      ...only('copy', [`copy-image ${targets.copyImage.met ? 'met' : 'NOT met'} (${x(copyRatio)})`]),
      ...only('concurrent', [
        `${COUNT} at once without failure and Glimpse RSS < 500 MB (${fixed(rssLimitMiB, 0)} MiB) ${targets.concurrent.met ? 'met' : 'NOT met'}`,
      ]),
    ];
    const lines = [
      `Run on ${summary.machine}, ${date}, commit ${summary.git.commit.slice(0, 7)}${summary.git.dirty.length > 0 ? ' (with uncommitted changes in src)' : ''}, Glance ${summary.glance}, Glimpse workers = ${WORKERS}, Glance workers = 2; database ${DB}; median of ${ROUNDS} rounds; raw numbers in \`bench/results/${day}-import${SUFFIX}.json\`.`,
      '',
      '| scenario | Glimpse s (MiB/s) | Glance s (MiB/s) | Glance / Glimpse | baseline |',
      '|---|---|---|---|---|',
      ...only('web', [
        row(
          `web-download ${SIZE / GIB} GiB, POST to active`,
          webG.median,
          webO.median,
          SIZE,
          `curl -o file ${seconds(webCurl.median, SIZE)}; Glimpse = ${webVsCurl === null ? '–' : `${fixed(webVsCurl, 2)}×`} curl`,
        ),
        // Glimpse stages nothing without plugins: the download goes straight into the store.
        row('… of which until staged', stagedG, stagedO, SIZE).replace(/^\| … of which until staged \| failed/, '| … of which until staged | not staged'),
      ]),
      ...only('direct', [
        row(`glance-direct ${SIZE / GIB} GiB: stage`, stageG, stageO, SIZE),
        row(`glance-direct ${SIZE / GIB} GiB: import, POST to active`, importG, importO, SIZE, 'reference: upload (PUT /file) below'),
        row(`glance-direct ${SIZE / GIB} GiB: total`, dirG.median, dirO.median, SIZE),
        row(`reference: upload ${SIZE / GIB} GiB (PUT /file, curl -T)`, upG, upO, SIZE),
      ]),
      ...only('copy', [row(`copy-image ${SIZE / GIB} GiB to a second store, POST to listed`, copyG.median, copyO.median, SIZE)]),
      ...only('concurrent', [
        `| ${COUNT} × web-download ${EACH / MIB} MiB at once, until all active | ${concurrentCell(conG)} | ${concurrentCell(conO)} | ${x(ratio(conO?.allActiveSeconds, conG?.allActiveSeconds))} | ${COUNT} curl -o file at once ${concurrent.curl?.ok === true ? seconds(concurrent.curl.seconds, COUNT * EACH) : 'failed'} |`,
        `| ${COUNT} at once: server RSS idle → peak MiB | ${conG === null ? 'failed' : `${fixed(conG.rssIdleMiB, 0)} → ${fixed(conG.peakRssMiB, 0)}`} | ${conO === null ? 'failed' : `${fixed(conO.rssIdleMiB, 0)} → ${fixed(conO.peakRssMiB, 0)}`} | | |`,
      ]),
      `| server CPU s (best round) | ${[...cpu('web-download', webG.best?.cpuSeconds, 'web'), ...cpu('glance-direct', dirG.best?.cpuSeconds, 'direct'), ...cpu('copy-image', copyG.best?.cpuSeconds, 'copy'), ...cpu('at once', conG?.cpuSeconds, 'concurrent')].join(', ')} | ${[...cpu('web-download', webO.best?.cpuSeconds, 'web'), ...cpu('glance-direct', dirO.best?.cpuSeconds, 'direct'), ...cpu('copy-image', copyO.best?.cpuSeconds, 'copy'), ...cpu('at once', conO?.cpuSeconds, 'concurrent')].join(', ')} | | |`,
      '',
      ...only('web', [`All rounds (s): web-download Glimpse ${times(web.glimpse)}; Glance ${times(web.glance)}; curl ${times(web.curl)}.`]),
      ...only('direct', [
        `All rounds (s): glance-direct Glimpse ${times(direct.glimpse)}; Glance ${times(direct.glance)}. Upload Glimpse ${times(uploads.glimpse)}; Glance ${times(uploads.glance)}.`,
      ]),
      ...only('copy', [`All rounds (s): copy-image Glimpse ${times(copies.glimpse)}; Glance ${times(copies.glance)}.`]),
      '',
      `Targets (single imports ≥ 2× Glance or within 10 % of curl; ${COUNT} at once with no failure and Glimpse RSS < 500 MB): ${targetsText.join('; ')}.`,
    ];
    const failuresText = [
      ...[web.glimpse, web.glance, direct.glimpse, direct.glance, copies.glimpse, copies.glance, web.curl].flatMap((list) =>
        list.flatMap((o) => (o.ok ? [] : [o.error])),
      ),
      ...[concurrent.glimpse, concurrent.glance].flatMap((o) => (o === null ? [] : o.ok ? o.failures.slice(0, 5) : [o.error])),
    ];
    if (failuresText.length > 0) lines.push('', 'Failures:', ...failuresText.map((f) => `- ${f}`));
    const table = lines.join('\n');
    writeFileSync(`bench/results/${day}-import${SUFFIX}.md`, `${table}\n`);
    console.log(`\n${table}`);
  } finally {
    stopServers();
    source.stop();
    postgres?.stop();
    if (sawFailure) {
      const logs = `${STATE}-logs`;
      mkdirSync(logs, { recursive: true });
      for (const name of ['glimpse.log', 'glance.log']) if (existsSync(join(STATE, name))) copyFileSync(join(STATE, name), join(logs, `${DB}-${name}`));
      console.log(`servers' logs kept in ${logs}`);
    }
    if (existsSync(STATE) && statSync(STATE).isDirectory() && process.env['BENCH_IMPORT_KEEP'] === undefined) rmSync(STATE, { recursive: true, force: true });
  }
}

function median<T>(outcomes: readonly Outcome<T>[], key: (value: T) => number): number | null {
  const values = outcomes
    .filter((o): o is { ok: true } & T => o.ok)
    .map(key)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  return values.length === 0 ? null : (values[Math.floor((values.length - 1) / 2)] ?? null);
}

await main();
