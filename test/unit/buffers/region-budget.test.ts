import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Chunk } from '../../../src/buffers/chunk-lease.js';
import { RegionBudget } from '../../../src/buffers/region-budget.js';
import { RegionPool } from '../../../src/buffers/region-pool.js';
import { RegionFileReader } from '../../../src/stores/file/region-file-reader.js';
import { RegionPacker } from '../../../src/buffers/region-packer.js';
import { Readable } from 'node:stream';

const KIB = 1024;
const budget = (max: number, stallMs = 60_000): RegionBudget => new RegionBudget(new RegionPool(64 * KIB, max, null), max, { stallMs });
/** Whether `promise` has settled after the pending callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('region budget (the regions all imports of a process hold at once)', () => {
  it('lets reads take regions up to the budget, then hands each returned slot to the read waiting longest', async () => {
    const shared = budget(2);
    const a = shared.session();
    const b = shared.session();
    const first = a.lend(await a.take(), 10) as Chunk;
    await a.take();
    assert.equal(shared.outstanding, 2);
    const bWaits = b.take();
    const aWaits = a.take();
    assert.equal(await settled(bWaits), false);
    first.lease?.release();
    assert.equal(await settled(bWaits), true, 'the first to wait gets the slot');
    assert.equal(await settled(aWaits), false);
    a.close();
    assert.equal(await settled(aWaits), true);
    await assert.rejects(aWaits, /closed/);
    assert.equal(shared.outstanding, 1, 'only b holds one');
    b.close();
    assert.equal(shared.outstanding, 0);
  });

  it('returns what a closed read held once, however its chunks are released later', async () => {
    const shared = budget(3);
    const session = shared.session();
    const chunks = [session.lend(await session.take(), 1), session.lend(await session.take(), 1)] as Chunk[];
    session.close();
    assert.equal(shared.outstanding, 0);
    for (const chunk of chunks) chunk.lease?.release();
    assert.equal(shared.outstanding, 0);
  });

  it('stops waiting when the read is aborted', async () => {
    const shared = budget(1);
    const holder = shared.session();
    await holder.take();
    const controller = new AbortController();
    const waiting = shared.session().take(controller.signal);
    controller.abort(new Error('import stopped'));
    await assert.rejects(waiting, /import stopped/);
    holder.close();
    assert.equal(shared.outstanding, 0, 'the aborted read took nothing');
  });

  it('goes over the budget, counted, when a consumer never releases (slower, never stuck)', async () => {
    const shared = budget(1, 20);
    const session = shared.session();
    await session.take();
    await session.take();
    assert.equal(shared.overdrafts, 1);
    assert.equal(shared.outstanding, 2);
    session.close();
    assert.equal(shared.outstanding, 0);
  });
});

describe('region file reader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-region-read-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const data = randomBytes(64 * KIB * 5 + 123);
  const path = join(dir, 'staged');
  writeFileSync(path, data);

  it('reads the file (or a range of it) exactly, in leased regions, never holding more than the budget', async () => {
    const shared = budget(2);
    for (const [start, end] of [
      [0, data.length],
      [100, 64 * KIB * 2 + 7],
    ] as const) {
      const reader = new RegionFileReader(await open(path, 'r'), shared, start, end);
      const parts: Buffer[] = [];
      for await (const chunk of reader as AsyncIterable<Buffer & Chunk>) {
        assert.ok(chunk.lease !== undefined && chunk.length <= 64 * KIB);
        assert.ok(shared.outstanding <= 2);
        parts.push(Buffer.from(chunk));
        // A slow consumer: the reader waits for the budget rather than reading ahead.
        await new Promise((resolve) => setTimeout(resolve, 2));
        chunk.lease.release();
      }
      assert.deepEqual(Buffer.concat(parts), data.subarray(start, end));
    }
    assert.equal(shared.outstanding, 0);
    assert.equal(shared.overdrafts, 0);
  });

  it('gives its slots back when it is destroyed half way, its chunks unreleased', async () => {
    const shared = budget(2);
    const reader = new RegionFileReader(await open(path, 'r'), shared, 0, data.length);
    for await (const chunk of reader) {
      assert.ok((chunk as Buffer).length > 0);
      break;
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reader.destroyed, true);
    assert.equal(shared.outstanding, 0);
  });
});

describe('region packer (a download gathered into regions)', () => {
  it('gathers small chunks into full leased regions, bytes unchanged, never holding more than the budget', async () => {
    const shared = budget(2);
    const data = randomBytes(64 * KIB * 3 + 5000);
    const packer = new RegionPacker(shared);
    const source = Readable.from(
      (function* () {
        for (let at = 0; at < data.length; at += 1000) yield data.subarray(at, at + 1000);
      })(),
    );
    source.pipe(packer);
    const parts: Buffer[] = [];
    for await (const chunk of packer as AsyncIterable<Buffer & Chunk>) {
      assert.ok(chunk.lease !== undefined);
      assert.ok(shared.outstanding <= 2);
      parts.push(Buffer.from(chunk));
      await new Promise((resolve) => setTimeout(resolve, 2));
      chunk.lease.release();
    }
    assert.deepEqual(
      parts.map((p) => p.length),
      [64 * KIB, 64 * KIB, 64 * KIB, 5000],
    );
    assert.deepEqual(Buffer.concat(parts), data);
    assert.equal(shared.outstanding, 0);
  });

  it('gives its slots back when destroyed with a region half filled', async () => {
    const shared = budget(2);
    const packer = new RegionPacker(shared);
    packer.write(randomBytes(100));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(shared.outstanding, 1);
    packer.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(shared.outstanding, 0);
  });
});
