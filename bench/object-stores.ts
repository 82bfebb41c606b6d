/**
 * Image data through object stores: Glimpse vs Glance 25, both on the same real Swift (and on
 * its S3 API), in the same run, next to the backend's own limit measured in that run.
 *   npm run build && npx tsx bench/object-stores.ts   (BENCH_OBJECT_GIB=2, BENCH_OBJECT_BIG_GIB=10,
 *                                                     BENCH_OBJECT_STATE=/tmp/glimpse-bench-objects, BENCH_ROUNDS=2)
 * Uploads a generated file with curl -T (Content-Length) and downloads it into /dev/null,
 * reporting MiB/s, server CPU seconds and peak server RSS. The backend's limit: the `swift` CLI
 * uploading and downloading the same file with the same segment size, and boto3 with the same
 * part size and parallelism for S3. Then Glimpse's RSS during a BENCH_OBJECT_BIG_GIB upload to
 * Swift. Results go to bench/results/<date>-object-stores.{json,md}.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { prepareGlance, PYTHON_ENV, sh, startServers } from './bench-servers.js';
import { curl, headerArgs, putFileWithCurl } from './curl.js';
import { call, observed, put, repeated, type Target, type Transfer } from './bench-http.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const SIZE = Math.round(Number(process.env['BENCH_OBJECT_GIB'] ?? 2) * GIB);
const BIG = Math.round(Number(process.env['BENCH_OBJECT_BIG_GIB'] ?? 10) * GIB);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const STATE = resolve(process.env['BENCH_OBJECT_STATE'] ?? '/tmp/glimpse-bench-objects');
const GLANCE_PORT = 9697;
const GLIMPSE_PORT = 9698;
/** Glance's defaults: Swift segments of 200 MB; S3 parts of 10 MB, 10 at once. */
const SWIFT_SEGMENT_MB = 200;
const S3_PART_MB = 10;
const S3_THREADS = 10;
const TESTER = { user: 'test:tester', key: 'testing' };

/** Seconds a command takes (the backend's own tools). */
function timed(command: string, args: readonly string[]): number {
  const started = process.hrtime.bigint();
  execFileSync(command, args, { env: PYTHON_ENV, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function download(target: Target, id: string): Promise<void> {
  const [status, bytes] = (
    await curl([...headerArgs(target), '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${target.url}/v2/images/${id}/file`])
  ).split(' ');
  if (status !== '200' || Number(bytes) !== SIZE) throw new Error(`${target.name} download: ${status ?? ''}, ${bytes ?? ''} bytes`);
}

/** Glance and Glimpse on one store kind, each in a container or bucket of its own. */
async function startPair(kind: 'swift' | 's3', swiftUrl: string): Promise<{ glance: Target; glimpse: Target; stop: () => void }> {
  const state = join(STATE, kind);
  mkdirSync(state, { recursive: true });
  writeFileSync(
    join(state, 'glance-swift.conf'),
    `[ref1]\nauth_version = 1\nauth_address = ${swiftUrl}/auth/v1.0\nuser = ${TESTER.user}\nkey = ${TESTER.key}\n`,
  );
  const swiftOptions = (container: string): string =>
    `swift_store_config_file = ${state}/glance-swift.conf\ndefault_swift_reference = ref1\nswift_store_container = ${container}\nswift_store_create_container_on_put = True\nswift_store_large_object_chunk_size = ${SWIFT_SEGMENT_MB}\n`;
  const s3Options = (bucket: string): string =>
    `s3_store_host = ${swiftUrl}\ns3_store_access_key = ${TESTER.user}\ns3_store_secret_key = ${TESTER.key}\ns3_store_bucket = ${bucket}\ns3_store_create_bucket_on_put = True\ns3_store_large_object_chunk_size = ${S3_PART_MB}\ns3_store_thread_pools = ${S3_THREADS}\n`;
  const store = (name: string): string =>
    kind === 'swift'
      ? `[glance_store]\nstores = swift\ndefault_store = swift\n${swiftOptions(name)}`
      : `[glance_store]\nstores = s3\ndefault_store = s3\n${s3Options(name)}`;
  prepareGlance(state, GLANCE_PORT, join(state, 'unused'), { glanceStore: store('glance-bench') });
  const servers = await startServers(
    state,
    GLANCE_PORT,
    GLIMPSE_PORT,
    `[DEFAULT]\nbind_port = ${GLIMPSE_PORT}\nworkers = 2\ndata_dir = ${state}/glimpse-data\nlog_file = ${state}/glimpse.log\n${store('glimpse-bench')}[embedded_identity]\nuser_bench = bench-secret bench member,reader\n`,
  );
  return {
    glimpse: { name: 'glimpse', url: `http://127.0.0.1:${GLIMPSE_PORT}`, headers: { 'x-auth-token': servers.token }, group: servers.glimpse.pid ?? 0 },
    glance: {
      name: 'glance',
      url: `http://127.0.0.1:${GLANCE_PORT}`,
      headers: { 'x-identity-status': 'Confirmed', 'x-user-id': 'bench-user', 'x-project-id': 'bench-project', 'x-roles': 'member,reader' },
      group: servers.glance.pid ?? 0,
    },
    stop: servers.stop,
  };
}

/** The backend's own limit: its CLI (Swift) or SDK (S3) moving the same file, the same way. */
function backendLimit(kind: 'swift' | 's3', swiftUrl: string, file: string): { upload: number; download: number } {
  if (kind === 'swift') {
    const auth = ['-A', `${swiftUrl}/auth/v1.0`, '-U', TESTER.user, '-K', TESTER.key];
    const up = timed('swift', [...auth, 'upload', '--segment-size', String(SWIFT_SEGMENT_MB * 1024 * 1024), '--object-name', 'limit', 'bench-limit', file]);
    const down = timed('swift', [...auth, 'download', 'bench-limit', 'limit', '-o', '/dev/null']);
    sh('swift', [...auth, 'delete', 'bench-limit'], PYTHON_ENV);
    return { upload: SIZE / MIB / up, download: SIZE / MIB / down };
  }
  const script = `
import sys, boto3, botocore
from boto3.s3.transfer import TransferConfig
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="${TESTER.user}", aws_secret_access_key="${TESTER.key}",
                  config=botocore.client.Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
try: s3.create_bucket(Bucket="bench-limit")
except Exception: pass
cfg = TransferConfig(multipart_threshold=${S3_PART_MB} * 1024 * 1024, multipart_chunksize=${S3_PART_MB} * 1024 * 1024, max_concurrency=${S3_THREADS})
if sys.argv[2] == "up": s3.upload_file(sys.argv[3], "bench-limit", "limit", Config=cfg)
elif sys.argv[2] == "down": s3.download_file("bench-limit", "limit", "/dev/null", Config=cfg)
else: s3.delete_object(Bucket="bench-limit", Key="limit")
`;
  const py = join(STATE, 's3-limit.py');
  writeFileSync(py, script);
  const up = timed('/usr/bin/python3', [py, swiftUrl, 'up', file]);
  const down = timed('/usr/bin/python3', [py, swiftUrl, 'down', file]);
  sh('/usr/bin/python3', [py, swiftUrl, 'delete', file], PYTHON_ENV);
  return { upload: SIZE / MIB / up, download: SIZE / MIB / down };
}

async function main(): Promise<void> {
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { recursive: true });
  const swiftState = join(STATE, 'swift.state');
  const swiftEnv = { ...process.env, GLIMPSE_SWIFT_STATE: swiftState };
  const swiftUrl = execFileSync(resolve('scripts/swift-test-server.sh'), ['start'], { env: swiftEnv, encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const file = join(STATE, 'image.raw');
  const results: Record<string, unknown> = {};
  const failures: string[] = [];
  const lines: string[] = [];
  const say = (line: string): void => {
    console.log(line);
    lines.push(line);
  };
  try {
    sh('sh', ['-c', `head -c ${SIZE} /dev/urandom > '${file}'`]);
    const expectedMd5 = sh('md5sum', [file]).split(' ')[0];
    for (const kind of ['swift', 's3'] as const) {
      sh('sync', []);
      const limit = backendLimit(kind, swiftUrl, file);
      say(
        `${kind} backend limit (${kind === 'swift' ? `swift CLI, ${SWIFT_SEGMENT_MB} MB segments` : `boto3, ${S3_PART_MB} MB parts x ${S3_THREADS}`}): upload ${limit.upload.toFixed(0)} MiB/s, download ${limit.download.toFixed(0)} MiB/s`,
      );
      const pair = await startPair(kind, swiftUrl);
      const runs: Record<string, { upload: Transfer[]; download: Transfer[] }> = {
        glimpse: { upload: [], download: [] },
        glance: { upload: [], download: [] },
      };
      try {
        for (let round = 0; round < ROUNDS; round += 1) {
          for (const target of round % 2 === 0 ? [pair.glimpse, pair.glance] : [pair.glance, pair.glimpse]) {
            const id = String((await call(target, 'POST', '/v2/images', { name: `bench-${round}`, disk_format: 'raw', container_format: 'bare' }))['id']);
            sh('sync', []);
            const up = await observed(target, SIZE, () => putFileWithCurl(target, `/v2/images/${id}/file`, file));
            const shown = await call(target, 'GET', `/v2/images/${id}`);
            if (shown['checksum'] !== expectedMd5) throw new Error(`${target.name}: checksum ${String(shown['checksum'])}`);
            // A download that fails is reported, not fatal: Glance 25's S3 store cannot read back
            // an image when the access key holds a ':' (as tempauth's do), since it writes the
            // keys into the location URL and splits them there again.
            const down = await observed(target, SIZE, () => download(target, id)).catch((error: unknown) => {
              failures.push(`${kind} ${target.name} download: ${error instanceof Error ? error.message : String(error)}`);
              return null;
            });
            await call(target, 'DELETE', `/v2/images/${id}`).catch((error: unknown) => {
              failures.push(`${kind} ${target.name} delete: ${error instanceof Error ? error.message.slice(0, 120) : String(error)}`);
            });
            runs[target.name]?.upload.push(up);
            if (down !== null) runs[target.name]?.download.push(down);
            const show = (t: Transfer | null): string =>
              t === null ? 'failed' : `${t.mibPerSecond.toFixed(0)} MiB/s (cpu ${t.cpuSeconds.toFixed(1)} s, rss ${t.peakRssMiB.toFixed(0)} MiB)`;
            say(`${kind} ${target.name.padEnd(8)} round ${round}: upload ${show(up)}, download ${show(down)}`);
          }
        }
        let big: Transfer | null = null;
        if (kind === 'swift' && BIG > 0) {
          const id = String((await call(pair.glimpse, 'POST', '/v2/images', { name: 'bench-big', disk_format: 'raw', container_format: 'bare' }))['id']);
          big = await observed(pair.glimpse, BIG, () => put(pair.glimpse, id, repeated(BIG), BIG));
          await call(pair.glimpse, 'DELETE', `/v2/images/${id}`);
          say(`swift glimpse ${BIG / GIB} GiB upload: ${big.mibPerSecond.toFixed(0)} MiB/s, peak RSS ${big.peakRssMiB.toFixed(0)} MiB`);
        }
        const best = (list: readonly Transfer[]): Transfer | null =>
          list.reduce<Transfer | null>((a, b) => (a === null || b.mibPerSecond > a.mibPerSecond ? b : a), null);
        const g = runs['glimpse'];
        const o = runs['glance'];
        if (g === undefined || o === undefined) throw new Error('no results');
        const summary = {
          limit,
          glimpse: { upload: best(g.upload), download: best(g.download) },
          glance: { upload: best(o.upload), download: best(o.download) },
          big,
          runs,
        };
        results[kind] = summary;
        const ratio = (ours: Transfer | null, theirs: Transfer | null): string =>
          ours === null ? 'failed' : theirs === null ? 'Glance failed' : `${(ours.mibPerSecond / theirs.mibPerSecond).toFixed(2)}x Glance`;
        const share = (ours: Transfer | null, backend: number): string =>
          ours === null ? '' : ` (${((ours.mibPerSecond / backend) * 100).toFixed(0)}% of the backend's)`;
        say(
          `${kind}: upload ${ratio(summary.glimpse.upload, summary.glance.upload)}${share(summary.glimpse.upload, limit.upload)}, download ${ratio(summary.glimpse.download, summary.glance.download)}${share(summary.glimpse.download, limit.download)}`,
        );
      } finally {
        pair.stop();
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  } finally {
    execFileSync(resolve('scripts/swift-test-server.sh'), ['stop'], { env: swiftEnv });
    rmSync(file, { force: true });
  }
  const date = new Date().toISOString();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / GIB).toFixed(0)} GiB`;
  const out = resolve('bench/results', `${date.slice(0, 10)}-object-stores`);
  writeFileSync(`${out}.json`, JSON.stringify({ date, machine, sizeGiB: SIZE / GIB, client: 'curl', failures, ...results }, null, 2));
  writeFileSync(
    `${out}.md`,
    `# Object stores, ${date}\n\n${machine}; ${SIZE / GIB} GiB, curl; Swift 2.30 on loopback (tempauth, s3api)\n\n${[...lines, ...failures.map((f) => `failed: ${f}`)].map((l) => `- ${l}`).join('\n')}\n`,
  );
}

await main();
