import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { requireFreshBuild } from './compiled-build.js';

/**
 * Glimpse as users run it: the real `glimpse-api` entry point (the compiled dist/) in its own
 * process, configured by an INI file, on a free loopback port.
 */
export interface GlimpseProcess {
  readonly url: string;
  readonly dir: string;
  readonly configFile: string;
  /** What the program printed so far. */
  output(): string;
  /** SIGKILL, as a crash would: nothing gets to clean up. The directory stays. */
  kill(): Promise<void>;
  /** Starts glimpse-api again on the same port, configuration and data (and `env`, else the first run's). */
  restart(env?: Readonly<Record<string, string>>): Promise<GlimpseProcess>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolvePort(port);
      });
    });
    server.on('error', reject);
  });
}

async function waitForHealth(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`glimpse-api exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await fetch(`${url}/healthcheck`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`glimpse-api did not become healthy:\n${output()}`);
}

/**
 * Starts glimpse-api with `config` (INI text; `{port}` and `{dir}` are filled in), and `files`
 * written next to the config file first (glance-swift.conf, a policy file).
 */
export async function startGlimpseProcess(
  config: string,
  chosenPort?: number,
  env: Readonly<Record<string, string>> = {},
  files: Readonly<Record<string, string>> = {},
): Promise<GlimpseProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-proc-'));
  const port = chosenPort ?? (await freePort());
  const configFile = join(dir, 'glance-api.conf');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(configFile, config.replaceAll('{port}', String(port)).replaceAll('{dir}', dir));
  return launch(dir, port, configFile, env);
}

async function launch(dir: string, port: number, configFile: string, env: Readonly<Record<string, string>>): Promise<GlimpseProcess> {
  requireFreshBuild();
  const child = spawn(process.execPath, [resolve('bin/glimpse-api.js'), '--config-file', configFile], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child, () => log);
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(name);
    await exited;
  };
  return {
    url,
    dir,
    configFile,
    output: () => log,
    kill: () => signal('SIGKILL'),
    restart: async (next) => {
      await signal('SIGTERM');
      return launch(dir, port, configFile, next ?? env);
    },
    stop: async () => {
      await signal('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A project-scoped token from the embedded identity, as the CLIs log in. */
export async function login(url: string, user: string, password: string, project: string): Promise<string> {
  const response = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    }),
  });
  if (response.status !== 201) throw new Error(`login as ${user} failed: ${response.status}`);
  return response.headers.get('x-subject-token') ?? '';
}
