import { resolve } from 'node:path';
import { FILE_STORE_OPTIONS } from '../../config/options.js';
import type { StoreDriver } from '../store-driver.js';
import type { FileBackendSettings } from '../store-settings.js';
import { FileStore } from './file-store.js';

/** The file driver: images as files under `filesystem_store_datadir` (reference §15.2). */
export const fileDriver: StoreDriver<FileBackendSettings, typeof FILE_STORE_OPTIONS> = {
  type: 'file',
  options: FILE_STORE_OPTIONS,
  settings(id, values, { defaultDir }) {
    return {
      id,
      type: 'file',
      description: values.store_description,
      datadir: resolve(values.filesystem_store_datadir ?? defaultDir),
      filePerm: values.filesystem_store_file_perm,
      durable: values.filesystem_store_fsync,
      directIo: values.filesystem_store_direct_io,
    };
  },
  open: (s) => FileStore.open({ id: s.id, datadir: s.datadir, filePerm: s.filePerm, durable: s.durable, directIo: s.directIo }),
  properties: (s) => ({ data_dir: s.datadir, chunk_size: 65536, thin_provisioning: false }),
  place: (s) => ({ option: 'filesystem_store_datadir', value: s.datadir, what: 'directory' }),
};
