import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { migrateToLatest, openDatabase, type Db } from '../../../src/db/database.js';
import { ensureDefaultAdmin, projectId, userId } from '../../../src/identity/embedded/embedded-users.js';
import { TokenStore } from '../../../src/identity/embedded/token-store.js';
import { hashPassword, verifyPassword } from '../../../src/identity/password-hash.js';

describe('embedded identity building blocks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-identity-'));
  let db: Db;
  before(async () => {
    db = openDatabase({ kind: 'sqlite', path: join(dir, 'id.sqlite') });
    await migrateToLatest(db);
  });
  after(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const identity = {
    userId: userId('u'),
    userName: 'u',
    userDomainId: 'default',
    scope: { kind: 'project', projectId: projectId('p'), projectName: 'p', projectDomainId: 'default' },
    roles: ['member'],
    isAdminProject: true,
    catalog: [],
  } as const;

  it('hashes passwords with scrypt and verifies them in constant time', async () => {
    const hash = await hashPassword('s3cret');
    assert.match(hash, /^scrypt\$16384\$8\$1\$/);
    assert.equal(await verifyPassword({ kind: 'scrypt', hash }, 's3cret'), true);
    assert.equal(await verifyPassword({ kind: 'scrypt', hash }, 'wrong'), false);
    assert.equal(await verifyPassword({ kind: 'scrypt', hash: 'scrypt$garbage' }, 's3cret'), false);
    assert.equal(await verifyPassword({ kind: 'plain', value: 'a' }, 'a'), true);
    assert.equal(await verifyPassword({ kind: 'plain', value: 'a' }, 'ab'), false);
  });

  it('derives the same ids in every process', () => {
    assert.equal(projectId('demo'), projectId('demo'));
    assert.notEqual(projectId('demo'), userId('demo'));
    assert.match(projectId('demo'), /^[0-9a-f]{32}$/);
  });

  it('stores only a digest of each token and forgets expired ones', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const store = new TokenStore(db, 60, () => now);
    const issued = await store.issue(identity);
    const rows = await db.selectFrom('identity_tokens').selectAll().execute();
    assert.ok(rows.every((r) => r.token_hash !== issued.token && !JSON.stringify(r).includes(issued.token)));
    assert.equal((await store.validate(issued.token))?.scope.projectName, 'p');
    assert.equal(await store.validate(`${issued.token}x`), null);
    now = new Date('2030-01-01T00:01:01Z');
    assert.equal(await store.validate(issued.token), null);
    assert.equal((await db.selectFrom('identity_tokens').selectAll().execute()).length, 0, 'expired rows are purged');
  });

  it('never lets a rescoped token outlive its parent, and revokes', async () => {
    const store = new TokenStore(db, 3600);
    const soon = new Date(Date.now() + 5000);
    const child = await store.issue(identity, soon);
    assert.equal(child.identity.expiresAt.getTime(), soon.getTime());
    assert.equal(await store.revoke(child.token), true);
    assert.equal(await store.validate(child.token), null);
  });

  it('creates the first admin once, keeping only a hash with private permissions', async () => {
    const data = join(dir, 'data');
    const first = await ensureDefaultAdmin([], data);
    assert.ok(first.generatedPassword !== null && first.generatedPassword.length >= 20);
    const [admin] = first.users;
    assert.equal(admin?.name, 'admin');
    assert.deepEqual(admin.roles, ['admin', 'member', 'reader']);
    assert.equal(await verifyPassword(admin.password, first.generatedPassword), true);
    assert.equal(statSync(join(data, 'embedded-admin-password-hash')).mode & 0o777, 0o600);
    const second = await ensureDefaultAdmin([], data);
    assert.equal(second.generatedPassword, null, 'the password is printed only once');
    assert.deepEqual(second.users, first.users);
    const configured = await ensureDefaultAdmin([{ name: 'x', password: { kind: 'plain', value: 'y' }, project: 'x', roles: [] }], data);
    assert.equal(configured.users[0]?.name, 'x');
  });
});
