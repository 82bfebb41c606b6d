import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { copyFile, rename, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FileStore } from '../stores/file/file-store.js';
import { StoreNotFoundError } from '../stores/store-errors.js';
import type { StoredObject } from '../stores/image-store.js';
import type { RegionBudget } from '../buffers/region-budget.js';

/** The id Glance gives the staging store (reference §9.2); never a configured store's id. */
export const STAGING_STORE_ID = 'os_glance_staging_store';

/**
 * Where staged bytes wait for their import (reference §9.2): a file store of its own, one file per
 * image named by its id. Writes are atomic (a temporary file, then a link), so after a crash a
 * staged file is either whole or absent; an interrupted one leaves only a `.tmp-` file.
 */
export class StagingArea {
  private constructor(
    private readonly store: FileStore,
    private readonly dir: string,
  ) {}

  /**
   * `durable`: flushed to disk before a write succeeds, so a staged image survives a machine
   * crash too (a process crash never loses it). Through the page cache: it is read back soon,
   * into `readRegions`' pooled regions when given (what bounds an import's memory).
   */
  static async open(dir: string, durable: boolean, readRegions: RegionBudget | null = null): Promise<StagingArea> {
    return new StagingArea(await FileStore.open({ id: STAGING_STORE_ID, datadir: dir, filePerm: 0, durable, directIo: false, readRegions }), dir);
  }

  location(imageId: string): string {
    return pathToFileURL(this.path(imageId)).href;
  }

  /** The staged file itself (import plugins work on files). */
  path(imageId: string): string {
    return join(this.dir, imageId);
  }

  /**
   * Makes `file` (a plugin's output) the image's staged data, replacing what was staged. A
   * rename, so it is whole or not done; a copy when `file` is on another filesystem.
   */
  async replaceWith(imageId: string, file: string): Promise<void> {
    try {
      await rename(file, this.path(imageId));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      const temp = `${this.path(imageId)}.tmp-replace`;
      await copyFile(file, temp);
      await rename(temp, this.path(imageId));
      await unlink(file);
    }
  }

  /** Stores the bytes as the image's staged data; the staging size limit is `maxBytes`. */
  async write(imageId: string, source: Readable, maxBytes: number, signal: AbortSignal): Promise<number> {
    const chunks = source.iterator({ destroyOnReturn: false });
    return (await this.store.write(imageId, chunks, { maxBytes, signal })).size;
  }

  /** The staged bytes' size, or null when nothing is staged. */
  async size(imageId: string): Promise<number | null> {
    try {
      return (await this.store.stat(this.location(imageId))).size;
    } catch (error) {
      if (error instanceof StoreNotFoundError) return null;
      throw error;
    }
  }

  read(imageId: string): Promise<Readable> {
    return this.store.read(this.location(imageId));
  }

  /** Removes the staged bytes; nothing staged is fine. */
  async remove(imageId: string): Promise<void> {
    try {
      await this.store.delete(this.location(imageId));
    } catch (error) {
      if (!(error instanceof StoreNotFoundError)) throw error;
    }
  }

  /** Everything in staging, unfinished writes included (recovery's orphan check). */
  objects(): AsyncIterable<StoredObject> {
    return this.store.list();
  }

  /** Removes one object `objects()` listed. */
  async removeObject(location: string): Promise<void> {
    await this.store.delete(location);
  }
}
