import { resolve } from 'node:path';
import type { OptionValue } from '../../config/options.js';
import type { StoreDriver } from '../store-driver.js';
import { FileStore } from './file-store.js';

function text(value: OptionValue): string | null {
  return typeof value === 'string' ? value : null;
}

/** The file driver: images as files under `filesystem_store_datadir` (reference §15.2). */
export const fileDriver: StoreDriver = {
  type: 'file',
  settings(id, option, defaultDir) {
    return {
      id,
      type: 'file',
      description: text(option('store_description')),
      datadir: resolve(text(option('filesystem_store_datadir')) ?? defaultDir),
      filePerm: Number(option('filesystem_store_file_perm')),
      durable: option('filesystem_store_fsync') === true,
      directIo: option('filesystem_store_direct_io') === true,
    };
  },
  open: (s) => FileStore.open({ id: s.id, datadir: s.datadir, filePerm: s.filePerm, durable: s.durable, directIo: s.directIo }),
  properties: (s) => ({ data_dir: s.datadir, chunk_size: 65536, thin_provisioning: false }),
  place: (s) => ({ option: 'filesystem_store_datadir', value: s.datadir, what: 'directory' }),
};
