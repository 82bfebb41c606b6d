import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './glimpse-process.js';

const run = promisify(execFile);

/** A real Keystone started by scripts/keystone-test-server.sh, for the keystone flavor. */
export interface KeystoneServer {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startKeystone(imageUrl: string): Promise<KeystoneServer> {
  const stateDir = mkdtempSync(join(tmpdir(), 'glimpse-ks-'));
  const env = { ...process.env, GLIMPSE_KEYSTONE_STATE: join(stateDir, 'state'), GLIMPSE_IMAGE_URL: imageUrl, KEYSTONE_PORT: String(await freePort()) };
  const script = resolve('scripts/keystone-test-server.sh');
  const { stdout } = await run(script, ['start'], { env, timeout: 180_000 });
  return {
    url: stdout.trim().split('\n').pop() ?? '',
    stop: async () => {
      await run(script, ['stop'], { env });
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
