import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ServiceUnavailableError } from '../../src/errors/domain-errors.js';
import { KeystoneAuthenticator } from '../../src/identity/keystone/keystone-authenticator.js';
import { freePort } from '../support/glimpse-process.js';
import { startKeystone, type KeystoneServer } from '../support/keystone-server.js';

/** The keystone flavor's token validation against a real Keystone (scripts/keystone-test-server.sh). */
describe('KeystoneAuthenticator against real Keystone', () => {
  let keystone: KeystoneServer;
  before(async () => {
    keystone = await startKeystone('http://127.0.0.1:9');
  });
  after(async () => {
    await keystone.stop();
  });

  async function tokenFor(user: string, project: string): Promise<string> {
    const response = await fetch(`${keystone.url}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password: 'secret' } } }, scope: { project: { name: project, domain: { id: 'default' } } } } }),
    });
    assert.equal(response.status, 201);
    return response.headers.get('x-subject-token') ?? '';
  }

  function authenticator(cacheSeconds: number, now?: () => Date): KeystoneAuthenticator {
    return new KeystoneAuthenticator({
      wwwAuthenticateUri: keystone.url,
      authUrl: keystone.url,
      username: 'glance',
      password: 'secret',
      projectName: 'service',
      userDomainName: 'Default',
      projectDomainName: 'Default',
      tokenCacheSeconds: cacheSeconds,
      ...(now === undefined ? {} : { now }),
    });
  }

  it('turns a valid token into the user\'s identity, an invalid one into null', async () => {
    const auth = authenticator(300);
    const identity = await auth.validate(await tokenFor('demo', 'demo'));
    assert.equal(identity?.userName, 'demo');
    assert.equal(identity.projectName, 'demo');
    assert.deepEqual([...identity.roles].sort(), ['member', 'reader']);
    assert.ok(identity.expiresAt.getTime() > Date.now());
    assert.equal(await auth.validate('not-a-token'), null);
    assert.equal(auth.wwwAuthenticateUri(), keystone.url);
  });

  it('caches for token_cache_time, but never past the token\'s expiry', async () => {
    let now = new Date();
    const auth = authenticator(300, () => now);
    const token = await tokenFor('alt_demo', 'alt_demo');
    const identity = await auth.validate(token);
    assert.ok(identity !== null);
    const admin = await tokenFor('admin', 'admin');
    const revoked = await fetch(`${keystone.url}/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': admin, 'x-subject-token': token } });
    assert.equal(revoked.status, 204);
    assert.notEqual(await auth.validate(token), null, 'still cached');
    now = new Date(now.getTime() + 301_000);
    assert.equal(await auth.validate(token), null, 'cache expired, Keystone says revoked');

    const fresh = await tokenFor('demo', 'demo');
    let later = new Date();
    const longCache = authenticator(24 * 3600, () => later);
    const valid = await longCache.validate(fresh);
    assert.ok(valid !== null);
    later = new Date(valid.expiresAt.getTime() + 1000);
    assert.equal(await longCache.validate(fresh), null, 'an expired token is never served from the cache');
  });

  it('does not cache at all when token_cache_time is -1', async () => {
    const auth = authenticator(-1);
    const token = await tokenFor('demo', 'demo');
    assert.ok((await auth.validate(token)) !== null);
    const admin = await tokenFor('admin', 'admin');
    await fetch(`${keystone.url}/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': admin, 'x-subject-token': token } });
    assert.equal(await auth.validate(token), null);
  });

  it('answers 503 when Keystone cannot be reached', async () => {
    const port = await freePort();
    const unreachable = new KeystoneAuthenticator({
      wwwAuthenticateUri: `http://127.0.0.1:${port}/v3`,
      authUrl: `http://127.0.0.1:${port}/v3`,
      username: 'glance',
      password: 'secret',
      projectName: 'service',
      userDomainName: 'Default',
      projectDomainName: 'Default',
      tokenCacheSeconds: 300,
    });
    await assert.rejects(unreachable.validate('x'), ServiceUnavailableError);
  });
});
