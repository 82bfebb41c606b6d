import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Glimpse as users run it: the real `glimpse-api` entry point in its own process, configured by
 * an INI file, on a free loopback port.
 */
export interface GlimpseProcess {
  readonly url: string;
  readonly dir: string;
  readonly configFile: string;
  /** What the program printed so far. */
  output(): string;
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

/** Starts glimpse-api with `config` (INI text; `{port}` and `{dir}` are filled in). */
export async function startGlimpseProcess(config: string, chosenPort?: number): Promise<GlimpseProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-proc-'));
  const port = chosenPort ?? (await freePort());
  const configFile = join(dir, 'glance-api.conf');
  writeFileSync(configFile, config.replaceAll('{port}', String(port)).replaceAll('{dir}', dir));
  const child = spawn(process.execPath, [resolve('bin/glimpse-api.js'), '--config-file', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child, () => log);
  return {
    url,
    dir,
    configFile,
    output: () => log,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
