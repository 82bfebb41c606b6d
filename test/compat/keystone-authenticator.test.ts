import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ServiceUnavailableError } from '../../src/errors/domain-errors.js';
import { KeystoneAuthenticator, type KeystoneAuthenticatorOptions } from '../../src/identity/keystone/keystone-authenticator.js';
import { freePort, startGlimpseProcess } from '../support/glimpse-process.js';
import { parseJsonOutput, runCli } from '../support/openstack-cli.js';
import { keystoneSettingsFromIni, serviceUserLines } from '../support/keystone-config.js';
import { keystoneToken, revokeToken, startKeystone, type KeystoneServer } from '../support/keystone-server.js';
import { startTlsProxy, type TlsProxy } from '../support/tls-proxy.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/**
 * The keystone flavor's token validation against a real Keystone (scripts/keystone-test-server.sh)
 * served at the root of its port, with 20-second tokens so that expiry and renewal happen while
 * the tests run.
 */
const TOKEN_SECONDS = 20;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('KeystoneAuthenticator against real Keystone', () => {
  let keystone: KeystoneServer;
  const authenticators: KeystoneAuthenticator[] = [];
  /** The port the glimpse-api processes below listen on: the catalog's image endpoint. */
  let glimpsePort = 0;
  before(async () => {
    glimpsePort = await freePort();
    keystone = await startKeystone(`http://127.0.0.1:${glimpsePort}`, { tokenExpirationSeconds: TOKEN_SECONDS });
  });
  after(async () => {
    for (const a of authenticators) a.close();
    await keystone.stop();
  });

  /** An authenticator configured as an operator writes `[keystone_authtoken]`. */
  function authenticator(lines: readonly string[] = serviceUserLines(keystone.root), extra: Partial<KeystoneAuthenticatorOptions> = {}): KeystoneAuthenticator {
    const auth = new KeystoneAuthenticator({ ...keystoneSettingsFromIni(['http_request_max_retries = 0', ...lines]), ...extra });
    authenticators.push(auth);
    return auth;
  }
  const project = async (user: 'demo' | 'alt_demo' | 'admin'): Promise<string> => (await keystoneToken(keystone, user, { project: user })).token;

  it('finds the v3 API from every form of auth_url that deployment tools write', async () => {
    for (const url of [keystone.root, `${keystone.root}/`, keystone.url, `${keystone.url}/`]) {
      const auth = authenticator(serviceUserLines(url));
      const identity = await auth.validate(await project('demo'));
      assert.equal(identity?.userName, 'demo', url);
      assert.deepEqual(identity.scope.kind === 'project' ? identity.scope.projectName : null, 'demo', url);
      assert.deepEqual([...identity.roles].sort(), ['member', 'reader'], url);
      assert.ok(
        identity.catalog.some((s) => s.type === 'image'),
        `${url}: the catalog comes with the token`,
      );
      assert.equal(auth.serviceTokensIssued, 1, url);
    }
  });

  it('takes the service user by ids, or by an application credential', async () => {
    const admin = await keystoneToken(keystone, 'admin', { project: 'admin' });
    const headers = { 'x-auth-token': admin.token, 'content-type': 'application/json' };
    const users = (await (await fetch(`${keystone.url}/users?name=glance`, { headers })).json()) as { users: { id: string }[] };
    const projects = (await (await fetch(`${keystone.url}/projects?name=service`, { headers })).json()) as { projects: { id: string }[] };
    const byIds = authenticator([
      `auth_url = ${keystone.root}`,
      `user_id = ${users.users[0]?.id}`,
      'password = secret',
      `project_id = ${projects.projects[0]?.id}`,
    ]);
    assert.equal((await byIds.validate(await project('demo')))?.userName, 'demo');
    const byDomainIds = authenticator([
      `auth_url = ${keystone.root}`,
      'username = glance',
      'password = secret',
      'project_name = service',
      'user_domain_id = default',
      'project_domain_id = default',
    ]);
    assert.equal((await byDomainIds.validate(await project('demo')))?.userName, 'demo');

    const glance = await keystoneToken(keystone, 'glance', { project: 'service' });
    const userId = users.users[0]?.id ?? '';
    const created = await fetch(`${keystone.url}/users/${userId}/application_credentials`, {
      method: 'POST',
      headers: { 'x-auth-token': glance.token, 'content-type': 'application/json' },
      body: JSON.stringify({ application_credential: { name: `glimpse-${Date.now()}` } }),
    });
    assert.equal(created.status, 201);
    const credential = ((await created.json()) as { application_credential: { id: string; secret: string } }).application_credential;
    const byCredential = authenticator([
      `auth_url = ${keystone.root}`,
      'auth_type = v3applicationcredential',
      `application_credential_id = ${credential.id}`,
      `application_credential_secret = ${credential.secret}`,
    ]);
    assert.equal((await byCredential.validate(await project('alt_demo')))?.userName, 'alt_demo');
  });

  it('turns tokens of every scope into identities, and invalid ones into null', async () => {
    const auth = authenticator();
    const system = await auth.validate((await keystoneToken(keystone, 'admin', { system: true })).token);
    assert.deepEqual(system?.scope, { kind: 'system', system: 'all' });
    assert.deepEqual([...system.roles].sort(), ['admin', 'member', 'reader']);
    const systemReader = await auth.validate((await keystoneToken(keystone, 'system_reader', { system: true })).token);
    assert.deepEqual(systemReader?.roles, ['reader']);
    const domain = await auth.validate((await keystoneToken(keystone, 'domain_member', { domain: 'default' })).token);
    assert.deepEqual(domain?.scope, { kind: 'domain', domainId: 'default', domainName: 'Default' });
    assert.deepEqual([...domain.roles].sort(), ['member', 'reader']);
    const unscoped = await auth.validate((await keystoneToken(keystone, 'domain_member', 'unscoped')).token);
    assert.deepEqual(unscoped?.scope, { kind: 'unscoped' });
    assert.deepEqual(unscoped.roles, []);
    assert.equal(await auth.validate('not-a-token'), null);
    assert.equal(await auth.validate((await project('demo')).slice(0, -4)), null);
  });

  it('refuses, at startup, what keystoneauth could not use either', () => {
    assert.throws(
      () => keystoneSettingsFromIni([`auth_url = ${keystone.root}`, 'auth_type = token', 'token = x']),
      /\[keystone_authtoken\] auth_type: 'token' is not supported/,
    );
    assert.throws(
      () => keystoneSettingsFromIni([`auth_url = ${keystone.root}`, 'password = secret']),
      /\[keystone_authtoken\] username \(or user_id\) is required/,
    );
    assert.throws(
      () => keystoneSettingsFromIni([`auth_url = ${keystone.root}`, 'username = glance', 'password = x', 'project_name = service', 'system_scope = all']),
      /give one scope/,
    );
    assert.throws(() => keystoneSettingsFromIni(['username = glance']), /\[keystone_authtoken\] auth_url is required/);
    assert.throws(
      () => new KeystoneAuthenticator(keystoneSettingsFromIni([...serviceUserLines(keystone.root), 'cafile = /nonexistent/ca.pem'])),
      /\[keystone_authtoken\] cafile: \/nonexistent\/ca\.pem cannot be read/,
    );
  });

  it('answers 503 with the reason when auth_url offers no v3 API or the credentials are wrong', async () => {
    const nowhere = authenticator(serviceUserLines(`${keystone.root}/nothing-here`));
    await assert.rejects(nowhere.validate(await project('demo')), (e: unknown) => e instanceof ServiceUnavailableError && /offers no v3 API/.test(e.message));
    const wrong = authenticator([...serviceUserLines(keystone.root).filter((l) => !l.startsWith('password')), 'password = wrong']);
    await assert.rejects(
      wrong.validate(await project('demo')),
      (e: unknown) => e instanceof ServiceUnavailableError && /refused Glimpse's service credentials \(401\)/.test(e.message),
    );
  });

  it("caches for token_cache_time, but never past the token's expiry", async () => {
    let now = new Date();
    const auth = authenticator(serviceUserLines(keystone.root), { now: () => now });
    const token = await project('alt_demo');
    const identity = await auth.validate(token);
    assert.ok(identity !== null);
    await revokeToken(keystone, token);
    now = new Date(identity.expiresAt.getTime() - 1000);
    assert.notEqual(await auth.validate(token), null, 'still cached just before its expiry (token_cache_time is 300 s)');
    now = new Date(identity.expiresAt.getTime() + 1);
    assert.equal(await auth.validate(token), null, 'never served from the cache after its expiry');

    const fresh = await project('demo');
    let later = new Date();
    const longCache = authenticator(serviceUserLines(keystone.root), { now: () => later, tokenCacheSeconds: 5 });
    assert.ok((await longCache.validate(fresh)) !== null);
    await revokeToken(keystone, fresh);
    later = new Date(later.getTime() + 5_001);
    assert.equal(await longCache.validate(fresh), null, 'a revoked token outlives its revocation by token_cache_time at most');
  });

  it('does not cache at all when token_cache_time is -1', async () => {
    const auth = authenticator([...serviceUserLines(keystone.root), 'token_cache_time = -1']);
    const token = await project('demo');
    assert.ok((await auth.validate(token)) !== null);
    await revokeToken(keystone, token);
    assert.equal(await auth.validate(token), null);
  });

  it('gets a new service token when Keystone answers 401 for the old one', async () => {
    const auth = authenticator();
    assert.ok((await auth.validate(await project('demo'))) !== null);
    assert.equal(auth.serviceTokensIssued, 1);
    // Setting the service user's password revokes every token it holds, as an operator's reset does.
    const admin = await keystoneToken(keystone, 'admin', { project: 'admin' });
    const headers = { 'x-auth-token': admin.token, 'content-type': 'application/json' };
    const users = (await (await fetch(`${keystone.url}/users?name=glance`, { headers })).json()) as { users: { id: string }[] };
    const reset = await fetch(`${keystone.url}/users/${users.users[0]?.id}`, {
      method: 'PATCH',
      headers,
      body: JSON.stringify({ user: { password: 'secret' } }),
    });
    assert.equal(reset.status, 200);
    // Keystone's revocation events have one-second resolution: a login in the same second would be revoked too.
    await sleep(1100);
    assert.equal((await auth.validate(await project('alt_demo')))?.userName, 'alt_demo');
    assert.equal(auth.serviceTokensIssued, 2);
  });

  it('renews its service token before it expires; a service token vouches for an expired user token', async () => {
    const auth = authenticator();
    const userToken = await project('demo');
    const serviceToken = async (): Promise<string> => (await keystoneToken(keystone, 'glance', { project: 'service' })).token;
    assert.ok((await auth.validate(userToken)) !== null);
    assert.equal(auth.serviceTokensIssued, 1);
    // Half of the 20 s life is left when Glimpse renews: the old token never reaches Keystone expired.
    await sleep((TOKEN_SECONDS / 2 + 1) * 1000);
    assert.ok((await auth.validate(await project('alt_demo'))) !== null);
    assert.equal(auth.serviceTokensIssued, 2, 'renewed before expiry');

    await sleep((TOKEN_SECONDS / 2) * 1000);
    assert.equal(await auth.validate(userToken), null, 'the user token has expired');
    const vouching = await auth.checkServiceToken(await serviceToken());
    assert.equal(vouching?.vouchesForExpired, true, 'glance holds the service role');
    const expired = await auth.validate(userToken, { allowExpired: true });
    assert.equal(expired?.userName, 'demo', "allow_expired on a service token's word");
    assert.ok(expired.expiresAt.getTime() < Date.now());

    const plain = await auth.checkServiceToken(await project('alt_demo'));
    assert.equal(plain?.vouchesForExpired, false, 'a token without the service role is a service token that vouches for nothing');
    const strict = authenticator([...serviceUserLines(keystone.root), 'service_token_roles_required = true']);
    assert.equal(await strict.checkServiceToken(await project('alt_demo')), null);
    assert.equal((await strict.checkServiceToken(await serviceToken()))?.vouchesForExpired, true);
    const custom = authenticator([...serviceUserLines(keystone.root), 'service_token_roles = nova_service, admin', 'service_token_roles_required = true']);
    assert.equal((await custom.checkServiceToken(await serviceToken()))?.vouchesForExpired, true, 'glance is admin of its project');
  });

  it('over HTTP: an expired user token is accepted only with a service token that vouches for it', async () => {
    let server: TestServer | null = null;
    try {
      server = await startTestServer('sqlite', {}, { authenticator: authenticator() });
      const userToken = await project('demo');
      const glance = (await keystoneToken(keystone, 'glance', { project: 'service' })).token;
      const alt = await project('alt_demo');
      const list = (headers: Record<string, string>): Promise<number> => server!.request(null, 'GET', '/v2/images', { headers }).then((r) => r.status);
      assert.equal(await list({ 'x-auth-token': userToken }), 200);
      await sleep((TOKEN_SECONDS + 1) * 1000);
      assert.equal(await list({ 'x-auth-token': userToken }), 401, 'expired');
      const freshGlance = (await keystoneToken(keystone, 'glance', { project: 'service' })).token;
      assert.equal(await list({ 'x-auth-token': userToken, 'x-service-token': freshGlance }), 200, 'vouched for by a service token');
      assert.equal(await list({ 'x-auth-token': userToken, 'x-service-token': await project('alt_demo') }), 401, 'alt_demo has no service role');
      assert.equal(await list({ 'x-auth-token': await project('demo'), 'x-service-token': glance }), 401, 'an expired service token is refused, not ignored');
      assert.equal(await list({ 'x-auth-token': await project('demo'), 'x-service-token': alt }), 401);
    } finally {
      await server?.close();
    }
  });

  it("over https: cafile trusts Keystone's certificate, insecure skips the check", async () => {
    let proxy: TlsProxy | null = null;
    try {
      proxy = await startTlsProxy(Number(new URL(keystone.root).port));
      const token = await project('demo');
      const trusted = authenticator([...serviceUserLines(proxy.url), `cafile = ${proxy.caFile}`]);
      assert.equal((await trusted.validate(token))?.userName, 'demo');
      const untrusted = authenticator(serviceUserLines(proxy.url));
      await assert.rejects(
        untrusted.validate(token),
        (e: unknown) => e instanceof ServiceUnavailableError && /could not be reached: .*certificate/i.test(e.message),
      );
      const insecure = authenticator([...serviceUserLines(proxy.url), 'insecure = true']);
      assert.equal((await insecure.validate(token))?.userName, 'demo');
    } finally {
      await proxy?.close();
    }
  });

  it('Keystone down: cached tokens keep working, unknown ones get 503, and it recovers', async () => {
    const server = await startTestServer('sqlite', {}, { authenticator: authenticator() });
    try {
      const list = (token: string) => server.request(null, 'GET', '/v2/images', { headers: { 'x-auth-token': token } });
      const known = await project('demo');
      const unknown = await project('alt_demo');
      assert.equal((await list(known)).status, 200);
      await keystone.down();
      try {
        assert.equal((await list(known)).status, 200, 'served from the cache');
        const refused = await list(unknown);
        assert.equal(refused.status, 503);
        assert.match(refused.text, /503 Service Unavailable/);
        assert.match(refused.text, /The identity service at http:\/\/127\.0\.0\.1:\d+ could not be reached/);
      } finally {
        await keystone.up();
      }
      assert.equal((await list(unknown)).status, 200, 'back once Keystone is');
    } finally {
      await server.close();
    }
  });

  it('Keystone slow: unknown tokens get 503 after http_connect_timeout, cached ones keep working', async () => {
    const auth = authenticator([...serviceUserLines(keystone.root), 'http_connect_timeout = 2']);
    const known = await project('demo');
    const unknown = await project('alt_demo');
    assert.ok((await auth.validate(known)) !== null);
    await keystone.freeze();
    try {
      const started = Date.now();
      await assert.rejects(auth.validate(unknown), (e: unknown) => e instanceof ServiceUnavailableError && /no answer within 2 s/.test(e.message));
      assert.ok(Date.now() - started < 10_000, 'gave up instead of waiting for Keystone');
      assert.equal((await auth.validate(known))?.userName, 'demo');
    } finally {
      await keystone.thaw();
    }
    assert.equal((await auth.validate(unknown))?.userName, 'alt_demo');
  });

  /** glimpse-api configured with these `[keystone_authtoken]` lines, used by the openstack CLI as demo. */
  async function cliRoundTrip(lines: readonly string[], osAuthUrl: string): Promise<void> {
    const glimpse = await startGlimpseProcess(
      ['[DEFAULT]', 'bind_port = {port}', 'data_dir = {dir}/data', '[paste_deploy]', 'flavor = keystone', '[keystone_authtoken]', ...lines, ''].join('\n'),
      glimpsePort,
    );
    try {
      const credentials = { authUrl: osAuthUrl, username: 'demo', password: 'secret', project: 'demo' };
      const created = await runCli('openstack', credentials, [
        'image',
        'create',
        '--disk-format',
        'raw',
        '--container-format',
        'bare',
        'ks-form',
        '-f',
        'json',
      ]);
      assert.equal(created.code, 0, `${lines.join('; ')}\n${created.stdout}\n${glimpse.output()}`);
      const id = parseJsonOutput<{ id: string }>(created.stdout).id;
      const listed = await runCli('openstack', credentials, ['image', 'list', '-f', 'json']);
      assert.equal(listed.code, 0, listed.stdout);
      assert.deepEqual(
        parseJsonOutput<{ ID: string }[]>(listed.stdout).map((i) => i.ID),
        [id],
      );
      const refused = await fetch(`${glimpse.url}/v2/images`);
      assert.equal(refused.status, 401);
      const www =
        lines
          .find((l) => l.startsWith('www_authenticate_uri'))
          ?.split('=')[1]
          ?.trim() ??
        lines
          .find((l) => l.startsWith('auth_url'))
          ?.split('=')[1]
          ?.trim()
          .replace(/\/+$/, '');
      assert.equal(refused.headers.get('www-authenticate'), `Keystone uri="${www}"`);
    } finally {
      await glimpse.stop();
    }
  }

  it('the openstack CLI works with auth_url = http://host:port, http://host:port/ and http://host:port/v3', async () => {
    await cliRoundTrip(serviceUserLines(keystone.root), keystone.root);
    await cliRoundTrip(serviceUserLines(`${keystone.root}/`), `${keystone.root}/`);
    await cliRoundTrip(serviceUserLines(keystone.url), keystone.url);
  });

  it('the openstack CLI works with [keystone_authtoken] as kolla-ansible writes it', async () => {
    await cliRoundTrip(
      [
        'www_authenticate_uri = https://keystone.example.com:5000',
        `auth_url = ${keystone.root}`,
        'auth_type = password',
        'project_domain_id = default',
        'user_domain_id = default',
        'project_name = service',
        'username = glance',
        'password = secret',
        'region_name = RegionOne',
        'service_type = image',
        'memcache_security_strategy = ENCRYPT',
        'memcache_secret_key = 7d7a6fc1b3c4e5f6',
        'memcached_servers = 127.0.0.1:11211',
      ],
      keystone.root,
    );
  });

  it('connection refused is retried http_request_max_retries times', async () => {
    const port = await freePort();
    const auth = authenticator([...serviceUserLines(`http://127.0.0.1:${port}`), 'http_request_max_retries = 2']);
    const started = Date.now();
    await assert.rejects(auth.validate('x'), ServiceUnavailableError);
    // 0.5 s, then 1 s between the three attempts.
    assert.ok(Date.now() - started >= 1400, 'the retries waited');
  });
});
