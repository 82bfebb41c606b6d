/**
 * Glimpse vs Glance 25 on the same machine, the same images, in the same run.
 *   npx tsx bench/run.ts            (BENCH_IMAGES=100000, BENCH_SECONDS=15, BENCH_STATE=/tmp/glimpse-bench)
 * Loads the data set once into both databases (kept in BENCH_STATE for later runs), starts both
 * servers with 2 workers each, checks they return the same first page, then measures.
 */
import { prepareGlance, sh, startServers } from './bench-servers.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { projectId, userId } from '../src/identity/embedded/embedded-users.js';
import { BENCH_PROJECT } from './dataset.js';
import { loadGlance, loadGlimpse } from './load-images.js';

const COUNT = Number(process.env['BENCH_IMAGES'] ?? 100_000);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 15);
const STATE = resolve(process.env['BENCH_STATE'] ?? '/tmp/glimpse-bench');
const GLANCE_PORT = 9595;
const GLIMPSE_PORT = 9596;

interface Target {
  readonly name: 'glimpse' | 'glance';
  readonly url: string;
  readonly headers: Record<string, string>;
}

async function prepareState(): Promise<void> {
  const marker = join(STATE, `loaded-${COUNT}`);
  if (existsSync(marker)) return;
  mkdirSync(STATE, { recursive: true });
  sh('rm', ['-rf', join(STATE, 'glimpse.sqlite'), join(STATE, 'glance.sqlite'), join(STATE, 'glimpse.sqlite-wal'), join(STATE, 'glance.sqlite-wal')]);
  prepareGlance(STATE, GLANCE_PORT, join(STATE, 'images'));
  let started = Date.now();
  await loadGlimpse(join(STATE, 'glimpse.sqlite'), COUNT);
  console.log(`loaded ${COUNT} images into Glimpse in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  started = Date.now();
  loadGlance(join(STATE, 'glance.sqlite'), COUNT);
  console.log(`loaded ${COUNT} images into Glance in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  writeFileSync(marker, new Date().toISOString());
}

async function startTargets(): Promise<{ targets: Target[]; stop: () => void }> {
  const servers = await startServers(
    STATE,
    GLANCE_PORT,
    GLIMPSE_PORT,
    `[DEFAULT]\nbind_port = ${GLIMPSE_PORT}\nworkers = 2\ndata_dir = ${STATE}/glimpse-data\nlog_file = ${STATE}/glimpse.log\n[database]\nconnection = sqlite:///${STATE}/glimpse.sqlite\n[embedded_identity]\nuser_bench = bench-secret ${BENCH_PROJECT} member,reader\n`,
  );
  return {
    targets: [
      { name: 'glimpse', url: `http://127.0.0.1:${GLIMPSE_PORT}`, headers: { 'x-auth-token': servers.token } },
      {
        name: 'glance',
        url: `http://127.0.0.1:${GLANCE_PORT}`,
        headers: { 'x-identity-status': 'Confirmed', 'x-user-id': userId('bench'), 'x-project-id': projectId(BENCH_PROJECT), 'x-roles': 'member,reader' },
      },
    ],
    stop: servers.stop,
  };
}

interface Measurement {
  scenario: string;
  connections: number;
  target: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

async function measure(target: Target, path: string, connections: number): Promise<Omit<Measurement, 'scenario' | 'target'>> {
  const result = await autocannon({ url: `${target.url}${path}`, connections, duration: SECONDS, headers: target.headers });
  return {
    connections,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

async function firstPage(target: Target, path: string): Promise<string[]> {
  const response = await fetch(`${target.url}${path}`, { headers: target.headers });
  const body = (await response.json()) as { images?: { id: string }[]; id?: string };
  return body.images?.map((i) => i.id) ?? [body.id ?? `status ${response.status}`];
}

async function main(): Promise<void> {
  await prepareState();
  const { targets, stop } = await startTargets();
  try {
    const glimpse = targets[0];
    if (glimpse === undefined) throw new Error('no target');
    const publicImage =
      ((await (await fetch(`${glimpse.url}/v2/images?visibility=public&limit=1`, { headers: glimpse.headers })).json()) as { images: { id: string }[] })
        .images[0]?.id ?? '';
    const scenarios: [string, string][] = [
      ['show', `/v2/images/${publicImage}`],
      ['default list', '/v2/images'],
      ['list, property filter', '/v2/images?os_distro=debian'],
      ['list, in: + sort', '/v2/images?disk_format=in:qcow2,vmdk&sort=name:asc'],
    ];
    for (const [name, path] of scenarios) {
      const [a, b] = await Promise.all(targets.map((t) => firstPage(t, path)));
      if (JSON.stringify(a) !== JSON.stringify(b))
        console.warn(`MISMATCH on ${name}: glimpse ${JSON.stringify(a?.slice(0, 3))}… glance ${JSON.stringify(b?.slice(0, 3))}…`);
      else console.log(`same first page on ${name} (${a?.length ?? 0} images)`);
    }
    const results: Measurement[] = [];
    for (const [scenario, path] of scenarios) {
      for (const connections of [1, 32]) {
        for (const target of targets) {
          await measure(target, path, Math.min(connections, 4)); // warm-up
          const m = await measure(target, path, connections);
          results.push({ scenario, target: target.name, ...m });
          console.log(
            `${scenario.padEnd(22)} c=${String(connections).padEnd(3)} ${target.name.padEnd(8)} ${m.requestsPerSecond.toFixed(0).padStart(7)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  errors ${m.errors}`,
          );
        }
      }
    }
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB`;
    const date = new Date().toISOString();
    const rows = results
      .filter((r) => r.target === 'glimpse')
      .map((g) => {
        const other = results.find((r) => r.target === 'glance' && r.scenario === g.scenario && r.connections === g.connections);
        const ratio = other === undefined || other.requestsPerSecond === 0 ? '∞' : (g.requestsPerSecond / other.requestsPerSecond).toFixed(1);
        return `| ${g.scenario} | ${g.connections} | ${g.requestsPerSecond.toFixed(0)} | ${g.p50} / ${g.p99} | ${other?.requestsPerSecond.toFixed(0) ?? '-'} | ${other === undefined ? '-' : `${other.p50} / ${other.p99}`} | ${ratio}× |`;
      });
    const table = [
      '| scenario | clients | Glimpse req/s | Glimpse p50 / p99 ms | Glance req/s | Glance p50 / p99 ms | req/s ratio |',
      '|---|---|---|---|---|---|---|',
      ...rows,
    ].join('\n');
    console.log(`\n${machine}, ${date}, ${COUNT} images\n\n${table}`);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/${date.slice(0, 10)}.json`, JSON.stringify({ date, machine, images: COUNT, seconds: SECONDS, results }, null, 2));
    writeFileSync(`bench/results/${date.slice(0, 10)}.md`, `${machine}, ${date}, ${COUNT} images, ${SECONDS} s per measurement\n\n${table}\n`);
  } finally {
    stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
