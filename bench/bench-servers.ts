/**
 * What the benchmarks share: running commands, waiting for a server, and setting up Glance 25
 * (Debian's glance-api) so that it builds its request context from identity headers, as it does
 * behind keystonemiddleware, with no Keystone round trip counted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requireFreshBuild } from '../test/support/compiled-build.js';

export const PYTHON_ENV = { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: process.env['HOME'] ?? '/root', LANG: 'C.UTF-8' };

/** Runs a command to completion; its standard output, or an error with everything it printed. */
export function sh(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(command, args, { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

export async function waitFor(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/** Options a benchmark adds to Glance's config: lines for `[DEFAULT]`, further sections, another database. */
export interface GlanceConfigExtra {
  readonly defaults?: string;
  readonly sections?: string;
  /** `[database] connection`; SQLite in `state` when absent. */
  readonly database?: string;
  /** The store sections, in place of one file store in `imagesDir` (multi-store: `[glance_store]` and each backend's). */
  readonly glanceStore?: string;
}

/**
 * Writes `glance-api.conf` (SQLite in `state`, 2 workers, file store in `imagesDir`, plus `extra`)
 * and a paste pipeline `healthcheck versionnegotiation context rootapp`, then runs
 * `glance-manage db_sync`.
 */
export function prepareGlance(state: string, port: number, imagesDir: string, extra: GlanceConfigExtra = {}): void {
  writeFileSync(
    join(state, 'glance-api.conf'),
    `[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = ${port}\nworkers = 2\nlog_file = ${state}/glance.log\n${extra.defaults ?? ''}[database]\nconnection = ${extra.database ?? `sqlite:///${state}/glance.sqlite`}\n[paste_deploy]\nflavor = bench\nconfig_file = ${state}/glance-api-paste.ini\n${extra.glanceStore ?? `[glance_store]\nstores = file\ndefault_store = file\nfilesystem_store_datadir = ${imagesDir}\n`}[oslo_policy]\npolicy_file = ${state}/policy.yaml\n${extra.sections ?? ''}`,
  );
  const paste = readFileSync('/etc/glance/glance-api-paste.ini', 'utf8').replace(
    '[pipeline:glance-api]',
    '[pipeline:glance-api-bench]\npipeline = healthcheck versionnegotiation context rootapp\n\n[pipeline:glance-api]',
  );
  writeFileSync(join(state, 'glance-api-paste.ini'), paste);
  writeFileSync(join(state, 'policy.yaml'), '');
  sh('glance-manage', ['--config-file', join(state, 'glance-api.conf'), 'db_sync'], PYTHON_ENV);
}

export interface RunningServers {
  readonly glance: ChildProcess;
  readonly glimpse: ChildProcess;
  /** A token of Glimpse's embedded user `bench` (password `bench-secret`). */
  readonly token: string;
  /** Kills both servers' process groups. */
  readonly stop: () => void;
}

/** Starts Glance (as prepared in `state`) and Glimpse (with `glimpseConfig`), waits for both, logs in. */
export async function startServers(state: string, glancePort: number, glimpsePort: number, glimpseConfig: string): Promise<RunningServers> {
  const glance = spawn('glance-api', ['--config-file', join(state, 'glance-api.conf')], { env: PYTHON_ENV, stdio: 'ignore', detached: true });
  requireFreshBuild();
  writeFileSync(join(state, 'glimpse.conf'), glimpseConfig);
  const glimpse = spawn(process.execPath, [resolve('bin/glimpse-api.js'), '--config-file', join(state, 'glimpse.conf')], { stdio: 'ignore', detached: true });
  const stop = (): void => {
    for (const child of [glance, glimpse]) if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  };
  try {
    await waitFor(`http://127.0.0.1:${glancePort}/healthcheck`, glance);
    await waitFor(`http://127.0.0.1:${glimpsePort}/healthcheck`, glimpse);
    const login = await fetch(`http://127.0.0.1:${glimpsePort}/identity/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: { identity: { methods: ['password'], password: { user: { name: 'bench', domain: { id: 'default' }, password: 'bench-secret' } } } },
      }),
    });
    return { glance, glimpse, token: login.headers.get('x-subject-token') ?? '', stop };
  } catch (error) {
    stop();
    throw error;
  }
}
