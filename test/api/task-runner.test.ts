import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { LeaseStore, type Lease } from '../../src/coordination/lease-store.js';
import { migrateToLatest, openDatabase, type Db } from '../../src/db/database.js';
import { TaskRepository } from '../../src/tasks/task-repository.js';
import { JobAbandonedError, TaskRunner, type JobHandler } from '../../src/tasks/task-runner.js';
import type { Task } from '../../src/tasks/task-types.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../support/test-databases.js';

/**
 * Durable jobs (src/tasks/task-runner.ts) on both databases: a job is claimed by exactly one of
 * two runners, renewed while it runs, taken over and resumed by another runner once its holder
 * stops renewing (a node that died), and never more than max_workers run in one process.
 */
const log = pino({ level: process.env['TEST_LOG'] ?? 'silent' });

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let waited = 0; waited < 15_000; waited += 25) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out: ${what}`);
}

for (const dialect of testDialects()) {
  describe(`task runner on ${dialect}`, () => {
    let database: TestDatabase;
    let db: Db;
    let tasks: TaskRepository;
    before(async () => {
      database = await createTestDatabase(dialect);
      db = openDatabase(database.config);
      await migrateToLatest(db);
      tasks = new TaskRepository(db);
    });
    after(async () => {
      await db.destroy();
      await database.drop();
    });

    const runner = (holder: string, handler: JobHandler, maxWorkers = 4, leaseMs = 1500): TaskRunner =>
      new TaskRunner({ tasks, leases: new LeaseStore(db), holder, handlers: { api_image_import: handler }, maxWorkers, leaseMs, pollMs: 200, log });
    const newTask = () => tasks.create({ type: 'api_image_import', owner: 'p', imageId: null, requestId: null, userId: null, input: {} });

    it('runs each job once, on one of two runners, to its end', async () => {
      const runs: string[] = [];
      const handler =
        (name: string): JobHandler =>
        async (task) => {
          runs.push(`${name}:${task.id}`);
          await tasks.transition(task.id, 'pending', 'processing');
          await tasks.transition(task.id, 'processing', 'success', { result: { by: name } });
        };
      const a = runner('node-a#1', handler('a'));
      const b = runner('node-b#1', handler('b'));
      const created = await Promise.all([newTask(), newTask(), newTask(), newTask(), newTask(), newTask()]);
      a.start();
      b.start();
      await until(async () => (await Promise.all(created.map((t) => tasks.findById(t.id)))).every((t) => t?.status === 'success'), 'every job done');
      await Promise.all([a.stop(), b.stop()]);
      assert.equal(runs.length, created.length, `each job ran once: ${runs.join(' ')}`);
      assert.equal(new Set(runs.map((r) => r.split(':')[1])).size, created.length);
    });

    it("resumes a job whose runner stopped renewing its lease, and the first runner's signal tells it to stop", async () => {
      const task = await newTask();
      let firstSignal: AbortSignal | null = null;
      const resumedWith: boolean[] = [];
      // The first runner's job hangs and its renewals stall, as when its process is frozen.
      const frozen = new LeaseStore(db);
      const stalled = new TaskRunner({
        tasks,
        // Renewals arrive late, as from a process frozen past its lease: by then another holds it.
        leases: Object.assign(Object.create(frozen) as LeaseStore, {
          renew: (lease: Lease, ttlMs: number) => sleep(2500).then(() => frozen.renew(lease, ttlMs)),
        }),
        holder: 'node-a#2',
        handlers: {
          api_image_import: async (t: Task, job) => {
            firstSignal = job.signal;
            await tasks.transition(t.id, 'pending', 'processing', { progress: { step: 'store' } });
            await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
          },
        },
        maxWorkers: 1,
        leaseMs: 1000,
        pollMs: 200,
        log,
      });
      stalled.start();
      await until(async () => (await tasks.findById(task.id))?.status === 'processing', 'the first runner started the job');
      const taker = runner('node-b#2', async (t, job) => {
        resumedWith.push(job.resumed);
        assert.deepEqual(t.progress, { step: 'store' }, 'the row says where the job stood');
        await tasks.transition(t.id, 'processing', 'success');
      });
      taker.start();
      await until(async () => (await tasks.findById(task.id))?.status === 'success', 'the second runner finished it');
      assert.deepEqual(resumedWith, [true]);
      await until(() => firstSignal !== null && firstSignal.aborted, 'the first runner lost its lease and was told');
      await Promise.all([stalled.stop(), taker.stop()]);
    });

    it('runs at most max_workers jobs at once, and abandons running jobs to others on stop', async () => {
      const created = await Promise.all([newTask(), newTask(), newTask()]);
      let running = 0;
      let most = 0;
      const reasons: unknown[] = [];
      const blocking = runner(
        'node-c#1',
        async (t, job) => {
          running += 1;
          most = Math.max(most, running);
          await tasks.transition(t.id, 'pending', 'processing');
          await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
          reasons.push(job.signal.reason);
          running -= 1;
        },
        2,
      );
      blocking.start();
      await until(() => running === 2, 'two jobs run');
      await sleep(500);
      assert.equal(most, 2, 'never a third');
      await blocking.stop();
      assert.ok(reasons.every((r) => r instanceof JobAbandonedError));
      // Released on stop: another runner takes the jobs at once, without waiting for expiry.
      const finisher = runner('node-d#1', async (t) => {
        await tasks.transition(t.id, t.status, 'success').then((ok) => ok || tasks.transition(t.id, 'processing', 'success'));
      });
      finisher.start();
      await until(async () => (await Promise.all(created.map((t) => tasks.findById(t.id)))).every((t) => t?.status === 'success'), 'taken over');
      await finisher.stop();
    });
  });
}
