import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/config-error.js';
import { STORE_OPTIONS } from '../../../src/config/options.js';
import { storeDriver } from '../../../src/stores/store-drivers.js';
import { StoreRegistry } from '../../../src/stores/store-registry.js';

/** The store driver table (src/stores/store-drivers.ts): one driver per type the config accepts. */
describe('store drivers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-drivers-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has a driver for every store type whose options the config declares, and refuses others', () => {
    for (const type of Object.keys(STORE_OPTIONS)) assert.equal(storeDriver(type).type, type);
    assert.throws(
      () => storeDriver('rbd'),
      (e: unknown) => e instanceof ConfigError && /store type 'rbd' is not supported \(supported: file, swift, s3\)/.test(e.message),
    );
  });

  it('the file driver reads its options, opens its store and says where it keeps objects', async () => {
    const options = {
      store_description: 'fast disks',
      filesystem_store_datadir: join(dir, 'fast'),
      filesystem_store_file_perm: 640,
      filesystem_store_fsync: false,
      filesystem_store_direct_io: false,
    };
    const driver = storeDriver('file');
    const settings = driver.settings('fast', options, { defaultDir: join(dir, 'default'), configDir: dir });
    assert.deepEqual(settings, {
      id: 'fast',
      type: 'file',
      description: 'fast disks',
      datadir: join(dir, 'fast'),
      filePerm: 640,
      durable: false,
      directIo: false,
    });
    assert.deepEqual(driver.place(settings), { option: 'filesystem_store_datadir', value: join(dir, 'fast'), what: 'directory' });
    const registry = await StoreRegistry.open({ multiStore: true, defaultBackend: 'fast', backends: [settings] });
    assert.equal(registry.get('fast')?.capabilities.localFiles, true);
    assert.deepEqual(registry.info(), [
      {
        id: 'fast',
        description: 'fast disks',
        isDefault: true,
        type: 'file',
        properties: { data_dir: join(dir, 'fast'), chunk_size: 65536, thin_provisioning: false },
      },
    ]);
  });
});
