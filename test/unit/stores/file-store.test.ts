import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { FileStore } from '../../../src/stores/file/file-store.js';
import { StoreUnavailableError } from '../../../src/stores/store-errors.js';
import { describeImageStore } from '../../support/store-conformance.js';
import { RegionBudget } from '../../../src/buffers/region-budget.js';
import { RegionPool } from '../../../src/buffers/region-pool.js';
import { alignedOffset } from '../../../src/native/native-addon.js';

const VARIANTS = [
  { durable: false, directIo: true, base: tmpdir() },
  // The staging area's: reads into pooled regions under a budget (one at a time here).
  { durable: false, directIo: false, base: tmpdir(), regions: true },
  { durable: true, directIo: true, base: tmpdir() },
  { durable: false, directIo: false, base: tmpdir() },
  // tmpfs: it takes O_DIRECT since Linux 6.6 (older kernels refuse, and the store then writes
  // through the page cache); either way the store must behave the same.
  { durable: false, directIo: true, base: '/dev/shm' },
];

for (const { durable, directIo, base, regions = false } of VARIANTS) {
  const name = `file store (${durable ? 'durable' : 'no fsync'}, direct_io ${directIo ? 'on' : 'off'}, ${base}${regions ? ', region reads' : ''})`;
  describeImageStore(name, async () => {
    const dir = mkdtempSync(join(base, 'glimpse-file-store-'));
    const readRegions = regions ? new RegionBudget(new RegionPool(64 * 1024, 1, alignedOffset), 1) : null;
    const store = await FileStore.open({ id: 'file', datadir: join(dir, 'images'), filePerm: 0, durable, directIo, readRegions });
    // /tmp is ext4 on this project's machines, which takes O_DIRECT: the direct path is tested.
    if (base === tmpdir()) assert.equal(store.directIo, directIo);
    return {
      store,
      cleanup: () => {
        rmSync(dir, { recursive: true, force: true });
        return Promise.resolve();
      },
    };
  });
}

describe('file store specifics', () => {
  it('creates the directory, and refuses one it cannot use with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glimpse-file-store-'));
    try {
      await FileStore.open({ id: 'file', datadir: join(dir, 'a', 'b'), filePerm: 0, durable: false, directIo: true });
      assert.ok(statSync(join(dir, 'a', 'b')).isDirectory());
      writeFileSync(join(dir, 'plain-file'), '');
      await assert.rejects(FileStore.open({ id: 'file', datadir: join(dir, 'plain-file'), filePerm: 0, durable: false, directIo: true }), (error: unknown) => {
        return error instanceof StoreUnavailableError && error.message.includes('filesystem_store_datadir') && error.message.includes('plain-file');
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies filesystem_store_file_perm (octal)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glimpse-file-store-'));
    try {
      const store = await FileStore.open({ id: 'file', datadir: dir, filePerm: 640, durable: false, directIo: true });
      const { location } = await store.write('a1b2', Readable.from([Buffer.from('x')]), { maxBytes: 1 });
      assert.equal(statSync(new URL(location)).mode & 0o777, 0o640);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists leftover temporary files as partial, so recovery can remove them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glimpse-file-store-'));
    try {
      const store = await FileStore.open({ id: 'file', datadir: dir, filePerm: 0, durable: false, directIo: true });
      writeFileSync(join(dir, 'abc.tmp-0123456789abcdef'), 'half');
      writeFileSync(join(dir, 'not an image'), 'ignored');
      const listed = [];
      for await (const o of store.list()) listed.push(o);
      assert.deepEqual(
        listed.map((o) => [o.imageId, o.partial, o.size]),
        [['abc', true, 4]],
      );
      await store.delete(listed[0]?.location ?? '');
      assert.deepEqual(readdirSync(dir), ['not an image']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
