import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A tempauth user of scripts/swift-test-server.sh. */
export interface SwiftUser {
  readonly user: string;
  readonly key: string;
}

export const SWIFT_TESTER: SwiftUser = { user: 'test:tester', key: 'testing' };
export const SWIFT_TESTER2: SwiftUser = { user: 'test2:tester2', key: 'testing2' };
export const SWIFT_SERVICE: SwiftUser = { user: 'service:glance', key: 'secret' };

/** A real Swift started by scripts/swift-test-server.sh (tempauth + s3api; Keystone optional). */
export interface SwiftServer {
  /** The tempauth proxy, `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Its v1 auth URL, as glance-swift.conf names it. */
  readonly authUrl: string;
  /** The Keystone proxy on the same storage servers, when started with a Keystone. */
  readonly keystoneProxyUrl: string | null;
  /** A token and account URL of a tempauth user. */
  login(user: SwiftUser): Promise<{ token: string; storageUrl: string }>;
  /** Object names of a container, as the account owner lists them (null: no such container). */
  list(user: SwiftUser, container: string): Promise<string[] | null>;
  /** Writes a glance-swift.conf with one reference (`ref1` unless named) and returns its path. */
  referenceFile(user: SwiftUser, name?: string): string;
  /** Stops and starts the proxies: the backend is down in between. */
  proxyDown(): Promise<void>;
  proxyUp(): Promise<void>;
  stop(): Promise<void>;
}

export interface SwiftOptions {
  /** A second proxy with Keystone auth (authtoken + keystoneauth) against this identity URL. */
  readonly keystoneUrl?: string;
  /** tempauth's `token_life`: how long its tokens are valid. */
  readonly tokenLifeSeconds?: number;
}

export async function startSwift(options: SwiftOptions = {}): Promise<SwiftServer> {
  const stateDir = mkdtempSync(join(tmpdir(), 'glimpse-swift-test-'));
  const env = {
    ...process.env,
    GLIMPSE_SWIFT_STATE: join(stateDir, 'state'),
    KEYSTONE_URL: options.keystoneUrl ?? '',
    SWIFT_TOKEN_LIFE: String(options.tokenLifeSeconds ?? 86400),
  };
  const script = resolve('scripts/swift-test-server.sh');
  const command = async (name: string): Promise<string> => (await run(script, [name], { env, timeout: 120_000 })).stdout;
  const url = (await command('start')).trim().split('\n').pop() ?? '';
  const state = await command('env');
  const kport = /^KEYSTONE_PROXY_PORT=(\d*)$/m.exec(state)?.[1] ?? '';
  const login = async (user: SwiftUser): Promise<{ token: string; storageUrl: string }> => {
    const response = await fetch(`${url}/auth/v1.0`, { headers: { 'x-auth-user': user.user, 'x-auth-key': user.key } });
    const token = response.headers.get('x-auth-token');
    const storageUrl = response.headers.get('x-storage-url');
    if (response.status !== 200 || token === null || storageUrl === null) throw new Error(`tempauth login of ${user.user} answered ${response.status}`);
    return { token, storageUrl };
  };
  return {
    url,
    authUrl: `${url}/auth/v1.0`,
    keystoneProxyUrl: kport === '' ? null : `http://127.0.0.1:${kport}`,
    login,
    async list(user, container) {
      const { token, storageUrl } = await login(user);
      const response = await fetch(`${storageUrl}/${container}?format=json`, { headers: { 'x-auth-token': token } });
      if (response.status === 404) return null;
      if (response.status === 204) return [];
      return ((await response.json()) as { name: string }[]).map((o) => o.name);
    },
    referenceFile(user, name = 'ref1') {
      const file = join(stateDir, `glance-swift-${name}.conf`);
      writeFileSync(file, `[${name}]\nauth_version = 1\nauth_address = ${url}/auth/v1.0\nuser = ${user.user}\nkey = ${user.key}\n`);
      return file;
    },
    proxyDown: async () => {
      await command('proxy-down');
    },
    proxyUp: async () => {
      await command('proxy-up');
    },
    stop: async () => {
      await command('stop');
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
