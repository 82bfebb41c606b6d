import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './glimpse-process.js';

const run = promisify(execFile);

/** A real Keystone started by scripts/keystone-test-server.sh, for the keystone flavor. */
export interface KeystoneServer {
  /** The v3 API (`http://127.0.0.1:PORT[/prefix]/v3`). */
  readonly url: string;
  /** The unversioned URL deployment tools configure (`http://127.0.0.1:PORT[/prefix]`). */
  readonly root: string;
  /** Stops serving, keeping the state: tokens stay valid once it is `up` again. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Keystone that accepts connections and never answers. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  stop(): Promise<void>;
}

export interface KeystoneOptions {
  /** Serve under a path, as devstack does (`/identity`). */
  readonly pathPrefix?: string;
  /** `[token] expiration` in seconds. */
  readonly tokenExpirationSeconds?: number;
  /** A second image service, in RegionTwo (glance-download between regions). */
  readonly secondRegionImageUrl?: string;
}

export async function startKeystone(imageUrl: string, options: KeystoneOptions = {}): Promise<KeystoneServer> {
  const stateDir = mkdtempSync(join(tmpdir(), 'glimpse-ks-'));
  const env = {
    ...process.env,
    GLIMPSE_KEYSTONE_STATE: join(stateDir, 'state'),
    GLIMPSE_IMAGE_URL: imageUrl,
    KEYSTONE_PORT: String(await freePort()),
    KEYSTONE_PATH_PREFIX: options.pathPrefix ?? '',
    KEYSTONE_TOKEN_EXPIRATION: String(options.tokenExpirationSeconds ?? 7200),
    GLIMPSE_IMAGE_URL_REGION_TWO: options.secondRegionImageUrl ?? '',
  };
  const script = resolve('scripts/keystone-test-server.sh');
  const command = async (name: string): Promise<void> => {
    await run(script, [name], { env, timeout: 180_000 });
  };
  const { stdout } = await run(script, ['start'], { env, timeout: 180_000 });
  const url = stdout.trim().split('\n').pop() ?? '';
  return {
    url,
    root: url.replace(/\/v3$/, ''),
    down: () => command('down'),
    up: () => command('up'),
    freeze: () => command('freeze'),
    thaw: () => command('thaw'),
    stop: async () => {
      await command('stop');
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Users scripts/keystone-test-server.sh provisions (password `secret`, domain Default). */
export type KeystoneUser = 'admin' | 'demo' | 'alt_demo' | 'glance' | 'domain_member' | 'system_reader';

export type KeystoneScope = { readonly project: string } | { readonly domain: 'default' } | { readonly system: true } | 'unscoped';

/** Logs in to Keystone as a user with a token of the given scope; the token and its body. */
export async function keystoneToken(
  keystone: KeystoneServer,
  user: KeystoneUser,
  scope: KeystoneScope,
): Promise<{ token: string; body: { token: { expires_at: string; project?: { id: string } } } }> {
  const scopeBody =
    scope === 'unscoped'
      ? {}
      : 'project' in scope
        ? { scope: { project: { name: scope.project, domain: { id: 'default' } } } }
        : 'domain' in scope
          ? { scope: { domain: { id: scope.domain } } }
          : { scope: { system: { all: true } } };
  const response = await fetch(`${keystone.url}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password: 'secret' } } }, ...scopeBody },
    }),
  });
  if (response.status !== 201) throw new Error(`login as ${user} failed: ${response.status} ${await response.text()}`);
  return { token: response.headers.get('x-subject-token') ?? '', body: (await response.json()) as { token: { expires_at: string; project?: { id: string } } } };
}

/** Revokes a token, as `openstack token revoke` does (with an admin token). */
export async function revokeToken(keystone: KeystoneServer, token: string): Promise<void> {
  const admin = await keystoneToken(keystone, 'admin', { project: 'admin' });
  const response = await fetch(`${keystone.url}/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': admin.token, 'x-subject-token': token } });
  if (response.status !== 204) throw new Error(`revoke failed: ${response.status}`);
}

/**
 * Registers a service with public, internal and admin endpoints in RegionOne (with an admin
 * token), as a deployment tool does: `url` may hold `$(project_id)s`, which Keystone fills in
 * with each token's project (Swift's `AUTH_$(project_id)s`).
 */
export async function registerEndpoint(keystone: KeystoneServer, name: string, type: string, url: string): Promise<void> {
  const admin = await keystoneToken(keystone, 'admin', { project: 'admin' });
  const call = async (path: string, body: unknown): Promise<Record<string, { id: string }>> => {
    const response = await fetch(`${keystone.url}${path}`, {
      method: 'POST',
      headers: { 'x-auth-token': admin.token, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 201) throw new Error(`POST ${path} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as Record<string, { id: string }>;
  };
  const service = (await call('/services', { service: { name, type } }))['service']?.id ?? '';
  for (const iface of ['public', 'internal', 'admin']) {
    await call('/endpoints', { endpoint: { service_id: service, interface: iface, region_id: 'RegionOne', url } });
  }
}
