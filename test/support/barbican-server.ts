import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './glimpse-process.js';

const run = promisify(execFile);

/** A real Barbican started by scripts/barbican-test-server.sh, registered in `keystoneUrl`'s catalog. */
export interface BarbicanServer {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startBarbican(keystoneUrl: string): Promise<BarbicanServer> {
  const stateDir = mkdtempSync(join(tmpdir(), 'glimpse-bb-'));
  const env = { ...process.env, GLIMPSE_BARBICAN_STATE: join(stateDir, 'state'), BARBICAN_PORT: String(await freePort()) };
  const script = resolve('scripts/barbican-test-server.sh');
  const { stdout } = await run(script, ['start', keystoneUrl], { env, timeout: 180_000 });
  return {
    url: stdout.trim().split('\n').pop() ?? '',
    stop: async () => {
      await run(script, ['stop'], { env });
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
