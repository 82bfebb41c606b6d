/** The reserved properties an import keeps on its image (reference §9.4). */
export const IMPORT_LOCK = 'os_glance_import_task';
export const IMPORTING_TO_STORES = 'os_glance_importing_to_stores';
export const FAILED_IMPORT = 'os_glance_failed_import';
export const STAGE_HOST = 'os_glance_stage_host';
/** Why the last import failed, for the owner to read on the image (like the upload failure note). */
export const IMPORT_FAILURE = 'os_glimpse_import_failure';

/** A comma-separated store list property as a set. */
export function storeList(value: string | undefined): string[] {
  return value === undefined || value === '' ? [] : value.split(',').filter((s) => s !== '');
}

export function joinStores(stores: Iterable<string>): string {
  return [...new Set(stores)].sort().join(',');
}
