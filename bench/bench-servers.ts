/**
 * What the benchmarks share: running commands, waiting for a server, and setting up Glance 25
 * (Debian's glance-api) so that it builds its request context from identity headers, as it does
 * behind keystonemiddleware, with no Keystone round trip counted.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

/**
 * Writes `glance-api.conf` (SQLite in `state`, 2 workers, file store in `imagesDir`) and a paste
 * pipeline `healthcheck versionnegotiation context rootapp`, then runs `glance-manage db_sync`.
 */
export function prepareGlance(state: string, port: number, imagesDir: string): void {
  writeFileSync(
    join(state, 'glance-api.conf'),
    `[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = ${port}\nworkers = 2\nlog_file = ${state}/glance.log\n[database]\nconnection = sqlite:///${state}/glance.sqlite\n[paste_deploy]\nflavor = bench\nconfig_file = ${state}/glance-api-paste.ini\n[glance_store]\nstores = file\ndefault_store = file\nfilesystem_store_datadir = ${imagesDir}\n[oslo_policy]\npolicy_file = ${state}/policy.yaml\n`,
  );
  const paste = readFileSync('/etc/glance/glance-api-paste.ini', 'utf8').replace('[pipeline:glance-api]', '[pipeline:glance-api-bench]\npipeline = healthcheck versionnegotiation context rootapp\n\n[pipeline:glance-api]');
  writeFileSync(join(state, 'glance-api-paste.ini'), paste);
  writeFileSync(join(state, 'policy.yaml'), '');
  sh('glance-manage', ['--config-file', join(state, 'glance-api.conf'), 'db_sync'], PYTHON_ENV);
}
