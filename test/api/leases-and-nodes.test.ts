import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Migrator } from 'kysely';
import { LeaseStore } from '../../src/coordination/lease-store.js';
import { NodeRegistry } from '../../src/coordination/node-registry.js';
import { ensureSchema, migrateToLatest, openDatabase, SchemaOutdatedError, type Db } from '../../src/db/database.js';
import { migrationProvider } from '../../src/db/migrations/index.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../support/test-databases.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/**
 * Several nodes on one database (README "Several nodes"): the lease primitive, node heartbeats,
 * recovery that spares a live node's upload, the scrubber's lease, and migrations left to
 * `glimpse-manage db sync` on a shared PostgreSQL database.
 */
for (const dialect of testDialects()) {
  describe(`leases on ${dialect}`, () => {
    let database: TestDatabase;
    let db: Db;
    let now = new Date('2030-01-01T00:00:00Z');
    before(async () => {
      database = await createTestDatabase(dialect);
      db = openDatabase(database.config);
      await migrateToLatest(db);
    });
    after(async () => {
      await db.destroy();
      await database.drop();
    });
    const store = (): LeaseStore => new LeaseStore(db, () => now);

    it('one claimant at a time; renew, expiry and takeover; release by the holder only', async () => {
      const leases = store();
      const a = await leases.claim('job-1', 'node-a', 30_000);
      assert.equal(a?.holder, 'node-a');
      assert.equal(await leases.claim('job-1', 'node-b', 30_000), null, 'held by a');
      assert.equal(await leases.holder('job-1'), 'node-a');
      now = new Date(now.getTime() + 20_000);
      const renewed = await leases.renew(a, 30_000);
      assert.ok(renewed !== null);
      now = new Date(now.getTime() + 20_000);
      assert.equal(await leases.claim('job-1', 'node-b', 30_000), null, "renewed, so still a's");
      now = new Date(now.getTime() + 11_000);
      assert.equal(await leases.holder('job-1'), null, 'lapsed');
      const b = await leases.claim('job-1', 'node-b', 30_000);
      assert.equal(b?.holder, 'node-b', 'taken over once it lapsed');
      assert.equal(await leases.renew(renewed, 30_000), null, 'a cannot renew what b took over');
      await leases.release(renewed);
      assert.equal(await leases.holder('job-1'), 'node-b', "a cannot release b's lease");
      assert.ok((await leases.claim('job-1', 'node-b', 30_000)) !== null, 'the holder may claim again');
      await leases.release(b);
      assert.equal(await leases.holder('job-1'), null);
    });

    it('of many racing claimants exactly one wins, on a fresh lease and on a lapsed one', async () => {
      for (const name of ['race-fresh', 'race-lapsed']) {
        if (name === 'race-lapsed') {
          await store().claim(name, 'old', 1000);
          now = new Date(now.getTime() + 2000);
        }
        // Separate connections race on PostgreSQL; SQLite serialises them in its one writer.
        const contenders = Array.from({ length: 8 }, (_, i) => `node-${i}`);
        const results = await Promise.all(contenders.map((holder) => store().claim(name, holder, 30_000)));
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1, `${name}: ${JSON.stringify(results)}`);
        assert.equal(await store().holder(name), winners[0]?.holder);
      }
    });

    it('tells live nodes by their heartbeat', async () => {
      const a = new NodeRegistry(db, 'host-a:9292', { heartbeatMs: 10_000, deadAfterMs: 60_000 }, () => now);
      const b = new NodeRegistry(db, 'host-b:9292', { heartbeatMs: 10_000, deadAfterMs: 60_000 }, () => now);
      await a.beat();
      now = new Date(now.getTime() + 50_000);
      await b.beat();
      assert.deepEqual([...(await a.liveNodes())].sort(), ['host-a:9292', 'host-b:9292']);
      now = new Date(now.getTime() + 20_000);
      assert.deepEqual([...(await a.liveNodes())], ['host-b:9292'], 'a missed its heartbeats for over a minute');
    });
  });

  describe(`two nodes on one database and store set, on ${dialect}`, () => {
    let nodeA: TestServer;
    let nodeB: TestServer | null = null;
    // One heartbeat at start and none during the tests, so they decide when a node looks dead.
    const node = (id: string) => ({ node: { id, heartbeatSeconds: 3600, deadAfterSeconds: 30 } });
    before(async () => {
      nodeA = await startTestServer(dialect, node('node-a'));
    });
    after(async () => {
      await nodeB?.close();
      await nodeA.close();
    });

    /** Starts an upload on `server` and sends half of it; the rest is sent by the returned function. */
    async function halfUpload(server: TestServer, id: string, bytes: Buffer): Promise<() => Promise<number>> {
      const token = await server.token('demo');
      const req = httpRequest(`${server.url}/v2/images/${id}/file`, {
        method: 'PUT',
        headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
      });
      const status = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      });
      req.write(bytes.subarray(0, bytes.length / 2));
      for (;;) {
        const row = await server.db.selectFrom('images').select(['status', 'uploading_node']).where('id', '=', id).executeTakeFirstOrThrow();
        if (row.status === 'saving') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return async () => {
        req.end(bytes.subarray(bytes.length / 2));
        return status;
      };
    }
    const create = async (server: TestServer): Promise<string> =>
      (await server.request('demo', 'POST', '/v2/images', { body: { name: 'n', disk_format: 'raw', container_format: 'bare' } })).json<{ id: string }>().id;
    const storeFiles = (server: TestServer): string[] => readdirSync(join(server.dataDir, 'images'));

    it('a live upload on node A survives node B starting (and its recovery pass)', async () => {
      const id = await create(nodeA);
      const bytes = randomBytes(8 * 1024 * 1024);
      const finish = await halfUpload(nodeA, id, bytes);
      const row = await nodeA.db.selectFrom('images').select('uploading_node').where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.uploading_node, 'node-a', 'the upload records the node writing it');
      // The store opens its temporary file as the first bytes arrive.
      for (let i = 0; i < 500 && storeFiles(nodeA).length === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      const partial = storeFiles(nodeA);
      assert.equal(partial.length, 1, 'node A is writing a temporary file');

      nodeB = await startTestServer(dialect, node('node-b'), { database: nodeA.database });
      const report = await nodeB.recovery.run({ requeue: true, remove: true });
      assert.deepEqual(report.requeued, [], "node A's upload is not node B's to recover");
      assert.deepEqual(report.orphans, [], "node A's temporary file is not an orphan");
      assert.deepEqual(storeFiles(nodeA), partial);

      assert.equal(await finish(), 204);
      const image = (await nodeB.request('demo', 'GET', `/v2/images/${id}`)).json<{ status: string; size: number }>();
      assert.deepEqual([image.status, image.size], ['active', bytes.length]);
      const download = await nodeB.request('demo', 'GET', `/v2/images/${id}/file`);
      assert.equal(download.status, 200, 'node B serves what node A stored');
    });

    it("node B recovers the upload of a node that stopped beating, and takes over the scrubber's lease", async () => {
      const id = await create(nodeA);
      const finish = await halfUpload(nodeA, id, randomBytes(4 * 1024 * 1024));
      // Node A's heartbeat goes silent (as when its host dies) while its upload is in flight.
      await nodeA.db
        .updateTable('nodes')
        .set({ heartbeat_at: new Date(Date.now() - 60_000).toISOString() })
        .where('id', '=', 'node-a')
        .execute();
      const leases = new LeaseStore(nodeA.db);
      const held = await leases.claim('scrubber', 'node-a#1', 60_000);
      assert.ok(held !== null);
      const busy = await nodeB!.scrubber.scrubOnce();
      assert.deepEqual(busy.busy, { holder: 'node-a#1' }, 'one scrubber pass at a time across nodes');
      await leases.release(held);
      assert.equal((await nodeB!.scrubber.scrubOnce()).busy, undefined);

      const report = await nodeB!.recovery.run({ requeue: true, remove: false });
      assert.deepEqual(report.requeued, [id], "a dead node's upload is requeued");
      assert.ok(
        report.orphans.some((o) => o.imageId === id && o.partial),
        'and its temporary file is an orphan',
      );
      // Node A was not really dead: its upload now fails the compare-and-set, and cleans up after itself.
      const status = await finish();
      assert.ok(status >= 400, `the requeued upload cannot finish (${status})`);
      const image = (await nodeB!.request('demo', 'GET', `/v2/images/${id}`)).json<{ status: string }>();
      assert.equal(image.status, 'queued');
    });
  });

  describe(`schema upgrades on ${dialect}`, () => {
    it(
      dialect === 'sqlite'
        ? 'the embedded SQLite database is migrated at start'
        : 'a PostgreSQL database in use is migrated only by db sync; an empty one at first start',
      async () => {
        const database = await createTestDatabase(dialect);
        const db = openDatabase(database.config);
        try {
          const migrator = new Migrator({ db, provider: migrationProvider });
          const older = await migrator.migrateTo('0003-key-manager-secrets');
          assert.equal(older.error, undefined);
          if (dialect === 'sqlite') {
            await ensureSchema(db, database.config);
          } else {
            await assert.rejects(
              ensureSchema(db, database.config),
              (e: unknown) =>
                e instanceof SchemaOutdatedError && /pending migrations: 0004-nodes-and-leases(, [^)]*)?\); run 'glimpse-manage db sync'/.test(e.message),
            );
            await migrateToLatest(db);
            await ensureSchema(db, database.config);
          }
          assert.ok((await migrator.getMigrations()).every((m) => m.executedAt !== undefined));
          const fresh = await createTestDatabase(dialect);
          const freshDb = openDatabase(fresh.config);
          try {
            await ensureSchema(freshDb, fresh.config);
            assert.ok(
              (await new Migrator({ db: freshDb, provider: migrationProvider }).getMigrations()).every((m) => m.executedAt !== undefined),
              'first start creates the schema',
            );
          } finally {
            await freshDb.destroy();
            await fresh.drop();
          }
        } finally {
          await db.destroy();
          await database.drop();
        }
      },
    );
  });
}
