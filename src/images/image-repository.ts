import { sql, type Expression, type ExpressionBuilder, type SqlBool, type Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database, ImagesTable } from '../db/schema.js';
import { ConflictError } from '../errors/domain-errors.js';
import { IMAGE_STATUSES, type ImageStatus } from './image-status.js';
import type { ListQuery, SortKey } from './image-list-query.js';
import { MEMBER_STATUSES, VISIBILITIES, oneOf, type Image, type ImageMember, type MemberStatus } from './image-types.js';

/** Who is listing: the visibility union depends on it (reference §2.4). */
export interface ListCaller {
  readonly projectId: string | null;
  readonly isAdmin: boolean;
}

/** Base columns a save may change; `id`, timestamps and deletion are managed here. */
export type ImageColumnChanges = Partial<
  Pick<
    ImagesTable,
    | 'name'
    | 'visibility'
    | 'protected'
    | 'os_hidden'
    | 'owner'
    | 'min_ram'
    | 'min_disk'
    | 'disk_format'
    | 'container_format'
    | 'size'
    | 'virtual_size'
    | 'checksum'
    | 'os_hash_algo'
    | 'os_hash_value'
    | 'uploading_node'
  >
>;

export interface ImageChanges {
  readonly columns: ImageColumnChanges;
  readonly setProperties: Readonly<Record<string, string>>;
  readonly removeProperties: readonly string[];
  /** The full new tag set, when tags changed. */
  readonly tags: readonly string[] | null;
}

/** The read-only property that tells the owner why the last upload failed (README "Image data"). */
export const UPLOAD_FAILURE_PROPERTY = 'os_glimpse_upload_failure';

export type NewImageRow = Omit<ImagesTable, 'deleted' | 'deleted_at' | 'created_at' | 'updated_at' | 'uploading_node'>;

type ImagesEb = ExpressionBuilder<Database, 'images'>;

function now(): string {
  return new Date().toISOString();
}

function toImage(row: ImagesTable, tags: readonly string[], properties: Readonly<Record<string, string>>, stores: readonly string[]): Image {
  return {
    id: row.id,
    name: row.name,
    status: oneOf(IMAGE_STATUSES, row.status, 'images.status'),
    visibility: oneOf(VISIBILITIES, row.visibility, 'images.visibility'),
    protected: row.protected === 1,
    osHidden: row.os_hidden === 1,
    checksum: row.checksum,
    osHashAlgo: row.os_hash_algo,
    osHashValue: row.os_hash_value,
    owner: row.owner,
    size: row.size,
    virtualSize: row.virtual_size,
    minRam: row.min_ram,
    minDisk: row.min_disk,
    diskFormat: row.disk_format,
    containerFormat: row.container_format,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    tags,
    properties,
    stores,
  };
}

/**
 * Sort expressions. Nullable keys are coalesced so that NULL orders the same way in SQLite and
 * PostgreSQL (lowest) and so keyset pagination compares plain values.
 */
function sortExpression(eb: ImagesEb, key: SortKey): Expression<unknown> {
  switch (key) {
    case 'name':
    case 'container_format':
    case 'disk_format':
      return eb.fn.coalesce(eb.ref(`images.${key}`), sql.lit(''));
    case 'size':
      return eb.fn.coalesce(eb.ref('images.size'), sql.lit(-1));
    case 'status':
    case 'id':
    case 'created_at':
    case 'updated_at':
      return eb.ref(`images.${key}`);
  }
}

function sortValue(row: ImagesTable, key: SortKey): string | number {
  switch (key) {
    case 'name':
    case 'container_format':
    case 'disk_format':
      return row[key] ?? '';
    case 'size':
      return row.size ?? -1;
    case 'status':
    case 'id':
    case 'created_at':
    case 'updated_at':
      return row[key];
  }
}

/** Timestamps are stored with milliseconds; Glance shows and compares whole seconds. */
function secondBounds(at: Date): { start: string; end: string } {
  const start = new Date(Math.floor(at.getTime() / 1000) * 1000);
  return { start: start.toISOString(), end: new Date(start.getTime() + 1000).toISOString() };
}

export class ImageRepository {
  constructor(
    private readonly db: Db,
    /** Multi-store: load each image's store ids for the `stores` field (reference §2.1). */
    private readonly options: { readonly trackStores: boolean } = { trackStores: false },
  ) {}

  async create(row: NewImageRow, properties: Readonly<Record<string, string>>, tags: readonly string[]): Promise<Image> {
    const at = now();
    await this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('images').select('id').where('id', '=', row.id).executeTakeFirst();
      // Deleted rows still hold their ids, so an id is never reused (reference §2.2 step 8).
      if (existing !== undefined) throw new ConflictError(`Image ID ${row.id} already exists!`);
      await trx
        .insertInto('images')
        .values({ ...row, created_at: at, updated_at: at, deleted: 0, deleted_at: null })
        .execute();
      await this.writeProperties(trx, row.id, properties);
      await this.writeTags(trx, row.id, tags);
    });
    const image = await this.findById(row.id);
    if (image === null) throw new ConflictError(`Image ID ${row.id} already exists!`);
    return image;
  }

  /** The stored status of any image, deleted ones included (the scrubber's restore). */
  async statusIncludingDeleted(id: string): Promise<ImageStatus | null> {
    const row = await this.db.selectFrom('images').select('status').where('id', '=', id).executeTakeFirst();
    return row === undefined ? null : oneOf(IMAGE_STATUSES, row.status, 'images.status');
  }

  /** A non-deleted image, or null. */
  async findById(id: string): Promise<Image | null> {
    const row = await this.db.selectFrom('images').selectAll().where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
    if (row === undefined) return null;
    const [withDetails] = await this.attachDetails([row]);
    return withDetails ?? null;
  }

  async list(query: ListQuery, caller: ListCaller, marker: Image | null): Promise<Image[]> {
    let q = this.db.selectFrom('images').selectAll('images').where('images.deleted', '=', 0).where('images.status', '!=', 'killed');
    q = q.where((eb) => this.visibilityCondition(eb, query, caller));
    q = q.where('images.os_hidden', '=', query.osHidden ? 1 : 0);
    if (query.protected !== null) q = q.where('images.protected', '=', query.protected ? 1 : 0);
    for (const filter of query.columns) {
      const column = `images.${filter.column}` as const;
      if (filter.column === 'min_ram' || filter.column === 'min_disk' || filter.column === 'size' || filter.column === 'virtual_size') {
        const numbers = filter.values.map(Number);
        // A non-numeric value can match nothing; keep the query valid on PostgreSQL.
        if (numbers.some((n) => !Number.isSafeInteger(n))) return [];
        q = q.where(column, 'in', numbers);
      } else {
        q = q.where(column, 'in', [...filter.values]);
      }
    }
    for (const range of query.ranges) {
      q = q.where(`images.${range.column}`, range.bound === 'min' ? '>=' : '<=', range.value);
    }
    for (const time of query.times) {
      const column = `images.${time.column}` as const;
      const { start, end } = secondBounds(time.at);
      switch (time.op) {
        case 'eq':
          q = q.where(column, '>=', start).where(column, '<', end);
          break;
        case 'neq':
          q = q.where((eb) => eb.or([eb(column, '<', start), eb(column, '>=', end)]));
          break;
        case 'gt':
          q = q.where(column, '>=', end);
          break;
        case 'gte':
          q = q.where(column, '>=', start);
          break;
        case 'lt':
          q = q.where(column, '<', start);
          break;
        case 'lte':
          q = q.where(column, '<', end);
          break;
      }
    }
    // Correlated EXISTS probes hit the (image_id, …) primary keys row by row while the scan walks the
    // sort index, which beats materialising every matching id when the page fills early.
    for (const tag of query.tags) {
      q = q.where((eb) =>
        eb.exists(
          eb.selectFrom('image_tags').select('image_tags.image_id').whereRef('image_tags.image_id', '=', 'images.id').where('image_tags.value', '=', tag),
        ),
      );
    }
    for (const [name, value] of query.properties) {
      q = q.where((eb) =>
        eb.exists(
          eb
            .selectFrom('image_properties')
            .select('image_properties.image_id')
            .whereRef('image_properties.image_id', '=', 'images.id')
            .where('image_properties.name', '=', name)
            .where('image_properties.value', '=', value),
        ),
      );
    }
    if (marker !== null) {
      const markerRow = await this.db.selectFrom('images').selectAll().where('id', '=', marker.id).executeTakeFirstOrThrow();
      q = q.where((eb) => this.afterMarker(eb, query, markerRow));
    }
    for (const spec of query.sort) q = q.orderBy((eb) => sortExpression(eb, spec.key), spec.dir);
    const rows = await q.limit(query.limit).execute();
    return this.attachDetails(rows);
  }

  /** Keyset pagination: rows strictly after the marker in the requested order. */
  private afterMarker(eb: ImagesEb, query: ListQuery, marker: ImagesTable): Expression<SqlBool> {
    const branches: Expression<SqlBool>[] = [];
    query.sort.forEach((spec, i) => {
      const equalities = query.sort.slice(0, i).map((prev) => eb(sortExpression(eb, prev.key), '=', sortValue(marker, prev.key)));
      const step = eb(sortExpression(eb, spec.key), spec.dir === 'asc' ? '>' : '<', sortValue(marker, spec.key));
      branches.push(eb.and([...equalities, step]));
    });
    return eb.or(branches);
  }

  /** Which images the caller may list (reference §2.4 "Visibility computation"). */
  private visibilityCondition(eb: ImagesEb, query: ListQuery, caller: ListCaller): Expression<SqlBool> {
    const conditions: Expression<SqlBool>[] = [];
    const project = caller.projectId;
    if (!caller.isAdmin) {
      const union: Expression<SqlBool>[] = [eb('images.visibility', 'in', ['public', 'community'])];
      if (project !== null) {
        union.push(eb('images.owner', '=', project));
        let members = eb
          .selectFrom('image_members')
          .select('image_members.image_id')
          .whereRef('image_members.image_id', '=', 'images.id')
          .where('image_members.member', '=', project);
        if (query.memberStatus !== 'all') members = members.where('image_members.status', '=', query.memberStatus);
        union.push(eb.and([eb('images.visibility', '=', 'shared'), eb.exists(members)]));
      }
      conditions.push(eb.or(union));
    }
    if (query.visibility !== null && query.visibility !== 'all') {
      conditions.push(eb('images.visibility', '=', query.visibility));
    } else if (query.visibility === null) {
      // Without a visibility filter, other projects' community images are left out.
      conditions.push(
        project === null ? eb('images.visibility', '!=', 'community') : eb.or([eb('images.visibility', '!=', 'community'), eb('images.owner', '=', project)]),
      );
    }
    return eb.and(conditions);
  }

  private async attachDetails(rows: readonly ImagesTable[]): Promise<Image[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    // Tags and properties in one round trip: a tag row has a NULL value, a property row never does.
    const details = await this.db
      .selectFrom('image_tags')
      .select(['image_tags.image_id', 'image_tags.value as name', sql<string | null>`cast(null as text)`.as('value')])
      .where('image_tags.image_id', 'in', ids)
      .unionAll((eb) =>
        eb
          .selectFrom('image_properties')
          .select(['image_properties.image_id', 'image_properties.name', 'image_properties.value'])
          .where('image_properties.image_id', 'in', ids),
      )
      .execute();
    const tags = new Map<string, string[]>();
    const properties = new Map<string, Record<string, string>>();
    for (const d of details) {
      if (d.value === null) {
        tags.set(d.image_id, [...(tags.get(d.image_id) ?? []), d.name]);
      } else {
        const bag = properties.get(d.image_id) ?? {};
        bag[d.name] = d.value;
        properties.set(d.image_id, bag);
      }
    }
    const stores = new Map<string, string[]>();
    if (this.options.trackStores) {
      const located = await this.db.selectFrom('image_locations').select(['image_id', 'store_id']).where('image_id', 'in', ids).orderBy('created_at').execute();
      for (const l of located) stores.set(l.image_id, [...new Set([...(stores.get(l.image_id) ?? []), l.store_id])]);
    }
    return rows.map((row) => toImage(row, (tags.get(row.id) ?? []).sort(), properties.get(row.id) ?? {}, stores.get(row.id) ?? []));
  }

  /**
   * Writes only what changed, in one transaction, guarded on the status the caller saw. Touching
   * only changed columns and properties means two concurrent PATCHes of different fields both
   * survive (Glance rewrites the whole row and loses one: LP#1371728).
   */
  async applyChanges(id: string, expectedStatus: ImageStatus, changes: ImageChanges): Promise<Image> {
    await this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('images')
        .set({ ...changes.columns, updated_at: now() })
        .where('id', '=', id)
        .where('deleted', '=', 0)
        .where('status', '=', expectedStatus)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw new ConflictError(`Image ${id} was changed by another request; retry.`);
      if (changes.removeProperties.length > 0) {
        await trx
          .deleteFrom('image_properties')
          .where('image_id', '=', id)
          .where('name', 'in', [...changes.removeProperties])
          .execute();
      }
      const toSet = Object.entries(changes.setProperties);
      if (toSet.length > 0) {
        await trx
          .deleteFrom('image_properties')
          .where('image_id', '=', id)
          .where(
            'name',
            'in',
            toSet.map(([name]) => name),
          )
          .execute();
        await this.writeProperties(trx, id, changes.setProperties);
      }
      if (changes.tags !== null) {
        await trx.deleteFrom('image_tags').where('image_id', '=', id).execute();
        await this.writeTags(trx, id, changes.tags);
      }
    });
    const image = await this.findById(id);
    if (image === null) throw new ConflictError(`Image ${id} was changed by another request; retry.`);
    return image;
  }

  /**
   * The one guarded status change: a compare-and-set on the stored status (reference §2.9).
   * Returns false when another request changed the status first.
   */
  async transitionStatus(id: string, from: ImageStatus, to: ImageStatus, columns: ImageColumnChanges = {}): Promise<boolean> {
    const at = now();
    const deleting = to === 'deleted' || to === 'pending_delete';
    // A pending_delete image is already soft-deleted; only the scrubber and a restore move it.
    const restoring = from === 'pending_delete' && to === 'active';
    const result = await this.db
      .updateTable('images')
      .set({
        ...columns,
        status: to,
        updated_at: at,
        ...(deleting && from !== 'pending_delete' ? { deleted: 1, deleted_at: at } : {}),
        ...(restoring ? { deleted: 0, deleted_at: null } : {}),
      })
      .where('id', '=', id)
      .where('deleted', '=', from === 'pending_delete' ? 1 : 0)
      .where('status', '=', from)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async listLocations(imageId: string): Promise<{ storeId: string; url: string }[]> {
    const rows = await this.db.selectFrom('image_locations').select(['store_id', 'url']).where('image_id', '=', imageId).orderBy('created_at').execute();
    return rows.map((r) => ({ storeId: r.store_id, url: r.url }));
  }

  /**
   * saving → active with the data's facts and its location, in one transaction guarded on the
   * status: false means the image changed (e.g. was deleted) during the upload.
   */
  async activateWithData(
    id: string,
    data: { storeId: string; url: string; size: number; virtualSize: number | null; checksum: string; hashAlgo: string; hashValue: string },
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const at = now();
      const result = await trx
        .updateTable('images')
        .set({
          status: 'active',
          size: data.size,
          virtual_size: data.virtualSize,
          checksum: data.checksum,
          os_hash_algo: data.hashAlgo,
          os_hash_value: data.hashValue,
          uploading_node: null,
          updated_at: at,
        })
        .where('id', '=', id)
        .where('deleted', '=', 0)
        .where('status', '=', 'saving')
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      await trx.deleteFrom('image_properties').where('image_id', '=', id).where('name', '=', UPLOAD_FAILURE_PROPERTY).execute();
      await trx.insertInto('image_locations').values({ image_id: id, store_id: data.storeId, url: data.url, created_at: at }).execute();
      return true;
    });
  }

  /**
   * A copy of imported data, in one transaction guarded on the status the import expects
   * (`importing`, or `active` for copy-image): the data's facts, its location, and, when
   * `activate`, importing → active. False when the image changed meanwhile (deleted, say).
   */
  async recordImportedData(
    id: string,
    from: 'importing' | 'active',
    activate: boolean,
    data: { storeId: string; url: string; size: number; virtualSize: number | null; checksum: string; hashAlgo: string; hashValue: string },
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const at = now();
      const facts = {
        size: data.size,
        virtual_size: data.virtualSize,
        checksum: data.checksum,
        os_hash_algo: data.hashAlgo,
        os_hash_value: data.hashValue,
      };
      const result = await trx
        .updateTable('images')
        .set({ ...(from === 'importing' ? facts : {}), ...(activate ? { status: 'active' } : {}), updated_at: at })
        .where('id', '=', id)
        .where('deleted', '=', 0)
        .where('status', '=', from)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      await trx.insertInto('image_locations').values({ image_id: id, store_id: data.storeId, url: data.url, created_at: at }).execute();
      return true;
    });
  }

  /**
   * Replaces the value of a server-owned property only while it is `expected` (null: absent), as
   * one guarded step: the import lock `os_glance_import_task` (reference §9.3 step 6). Two
   * racing claimants of an absent lock both try to insert; the primary key lets one win.
   */
  async swapProperty(id: string, name: string, expected: string | null, next: string | null): Promise<boolean> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const live = await trx.selectFrom('images').select('id').where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
        if (live === undefined) return false;
        let query = trx.deleteFrom('image_properties').where('image_id', '=', id).where('name', '=', name);
        if (expected !== null) query = query.where('value', '=', expected);
        const removed = await query.executeTakeFirst();
        if (expected !== null && removed.numDeletedRows === 0n) return false;
        if (expected === null && removed.numDeletedRows > 0n) {
          // It was set: a claim of an absent lock loses. Undo by failing the transaction.
          throw new PropertySwapLost();
        }
        if (next !== null) await trx.insertInto('image_properties').values({ image_id: id, name, value: next }).execute();
        return true;
      });
    } catch (error) {
      if (error instanceof PropertySwapLost) return false;
      // A concurrent insert of the same property: the other claimant won.
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** Sets and removes server-owned properties, whatever the status (import bookkeeping, reference §9.4). */
  async setServerProperties(id: string, set: Readonly<Record<string, string>>, remove: readonly string[] = []): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const names = [...Object.keys(set), ...remove];
      if (names.length > 0) await trx.deleteFrom('image_properties').where('image_id', '=', id).where('name', 'in', names).execute();
      await this.writeProperties(trx, id, set);
    });
  }

  /**
   * Records why the last upload failed, as the read-only property UPLOAD_FAILURE_PROPERTY, so
   * the owner sees it on the image (Glance's silent failures: glance-lessons §1).
   */
  async recordUploadFailure(id: string, reason: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const live = await trx.selectFrom('images').select('id').where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
      if (live === undefined) return;
      await trx.deleteFrom('image_properties').where('image_id', '=', id).where('name', '=', UPLOAD_FAILURE_PROPERTY).execute();
      await trx
        .insertInto('image_properties')
        .values({ image_id: id, name: UPLOAD_FAILURE_PROPERTY, value: reason.slice(0, 255) })
        .execute();
    });
  }

  /**
   * `user_storage_quota` usage: size × stored copies over the owner's images that are not
   * deleted or killed (reference §3.3).
   */
  async storageUsage(owner: string): Promise<number> {
    const row = await this.db
      .selectFrom('image_locations')
      .innerJoin('images', 'images.id', 'image_locations.image_id')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number | string>('images.size'), sql<number>`0`).as('total'))
      .where('images.owner', '=', owner)
      .where('images.deleted', '=', 0)
      .where('images.status', '!=', 'killed')
      .executeTakeFirstOrThrow();
    return Number(row.total);
  }

  /** Images being uploaded, and the node writing each (null for uploads begun before nodes were recorded). */
  async uploadsInProgress(): Promise<{ readonly id: string; readonly node: string | null }[]> {
    const rows = await this.db.selectFrom('images').select(['id', 'uploading_node']).where('status', '=', 'saving').where('deleted', '=', 0).execute();
    return rows.map((r) => ({ id: r.id, node: r.uploading_node }));
  }

  /** Images being staged (`uploading` with the staging node recorded): stage writes in progress. */
  async stagesInProgress(): Promise<{ readonly id: string; readonly node: string | null }[]> {
    const rows = await this.db
      .selectFrom('images')
      .select(['id', 'uploading_node'])
      .where('status', '=', 'uploading')
      .where('uploading_node', 'is not', null)
      .where('deleted', '=', 0)
      .execute();
    return rows.map((r) => ({ id: r.id, node: r.uploading_node }));
  }

  /** Live images by status, for the statuses asked (recovery's view of staging). */
  async statusesOf(ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('images')
      .select(['id', 'status'])
      .where('id', 'in', [...ids])
      .where('deleted', '=', 0)
      .execute();
    return new Map(rows.map((r) => [r.id, r.status]));
  }

  /** Importing images and the task that holds each one's import lock. */
  async importsInProgress(lockProperty: string): Promise<{ readonly id: string; readonly taskId: string | null }[]> {
    const rows = await this.db
      .selectFrom('images')
      .leftJoin('image_properties', (join) => join.onRef('image_properties.image_id', '=', 'images.id').on('image_properties.name', '=', lockProperty))
      .select(['images.id as id', 'image_properties.value as taskId'])
      .where('images.status', '=', 'importing')
      .where('images.deleted', '=', 0)
      .execute();
    return rows.map((r) => ({ id: r.id, taskId: r.taskId }));
  }

  /** pending_delete images deleted at or before `before`, oldest first (the scrubber's queue, §12). */
  async pendingDeletes(before: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('images')
      .select('id')
      .where('status', '=', 'pending_delete')
      .where('deleted', '=', 1)
      .where('deleted_at', '<=', before)
      .orderBy('deleted_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Every recorded location with its image's status, for the data check (glimpse-manage data). */
  async allLocations(): Promise<{ imageId: string; storeId: string; url: string; status: ImageStatus }[]> {
    const rows = await this.db
      .selectFrom('image_locations')
      .innerJoin('images', 'images.id', 'image_locations.image_id')
      .select(['image_locations.image_id', 'image_locations.store_id', 'image_locations.url', 'images.status'])
      .orderBy('image_locations.image_id')
      .execute();
    return rows.map((r) => ({ imageId: r.image_id, storeId: r.store_id, url: r.url, status: oneOf(IMAGE_STATUSES, r.status, 'images.status') }));
  }

  /** Every location URL recorded for a store, whatever the image's state. */
  async locationUrls(storeId: string): Promise<Set<string>> {
    const rows = await this.db.selectFrom('image_locations').select('url').where('store_id', '=', storeId).execute();
    return new Set(rows.map((r) => r.url));
  }

  async removeLocation(imageId: string, url: string): Promise<void> {
    await this.db.deleteFrom('image_locations').where('image_id', '=', imageId).where('url', '=', url).execute();
  }

  /** After a delete, the image's metadata rows have no reader left; the image row itself stays. */
  async purgeDetails(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('image_properties').where('image_id', '=', id).execute();
      await trx.deleteFrom('image_tags').where('image_id', '=', id).execute();
      await trx.deleteFrom('image_members').where('image_id', '=', id).execute();
    });
  }

  /** Adds a tag if absent (tags are a set, reference §2.8). */
  async addTag(id: string, tag: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const present = await trx.selectFrom('image_tags').select('value').where('image_id', '=', id).where('value', '=', tag).executeTakeFirst();
      if (present === undefined) await trx.insertInto('image_tags').values({ image_id: id, value: tag }).execute();
      await trx.updateTable('images').set({ updated_at: now() }).where('id', '=', id).execute();
    });
  }

  async removeTag(id: string, tag: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('image_tags').where('image_id', '=', id).where('value', '=', tag).executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      await trx.updateTable('images').set({ updated_at: now() }).where('id', '=', id).execute();
      return true;
    });
  }

  async findMember(imageId: string, member: string): Promise<ImageMember | null> {
    const row = await this.db.selectFrom('image_members').selectAll().where('image_id', '=', imageId).where('member', '=', member).executeTakeFirst();
    return row === undefined
      ? null
      : {
          imageId: row.image_id,
          memberId: row.member,
          status: oneOf(MEMBER_STATUSES, row.status, 'image_members.status'),
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        };
  }

  async listMembers(imageId: string): Promise<ImageMember[]> {
    const rows = await this.db.selectFrom('image_members').selectAll().where('image_id', '=', imageId).orderBy('created_at').orderBy('member').execute();
    return rows.map((row) => ({
      imageId: row.image_id,
      memberId: row.member,
      status: oneOf(MEMBER_STATUSES, row.status, 'image_members.status'),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  /**
   * Adds a pending member unless the image already has `quota` members (negative: unlimited).
   * Count and insert share a transaction so concurrent adds cannot overshoot.
   */
  async addMember(imageId: string, member: string, quota: number): Promise<'added' | 'duplicate' | { over: number }> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('image_members').select('member').where('image_id', '=', imageId).where('member', '=', member).executeTakeFirst();
      if (existing !== undefined) return 'duplicate';
      if (quota >= 0) {
        const { count } = await trx
          .selectFrom('image_members')
          .select((eb) => eb.fn.countAll<number | string>().as('count'))
          .where('image_id', '=', imageId)
          .executeTakeFirstOrThrow();
        const total = Number(count) + 1;
        if (total > quota) return { over: total };
      }
      const at = now();
      await trx.insertInto('image_members').values({ image_id: imageId, member, status: 'pending', created_at: at, updated_at: at }).execute();
      return 'added';
    });
  }

  async updateMemberStatus(imageId: string, member: string, status: MemberStatus): Promise<boolean> {
    const result = await this.db
      .updateTable('image_members')
      .set({ status, updated_at: now() })
      .where('image_id', '=', imageId)
      .where('member', '=', member)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async deleteMember(imageId: string, member: string): Promise<boolean> {
    const result = await this.db.deleteFrom('image_members').where('image_id', '=', imageId).where('member', '=', member).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  private async writeProperties(trx: Transaction<Database>, id: string, properties: Readonly<Record<string, string>>): Promise<void> {
    const rows = Object.entries(properties).map(([name, value]) => ({ image_id: id, name, value }));
    if (rows.length > 0) await trx.insertInto('image_properties').values(rows).execute();
  }

  private async writeTags(trx: Transaction<Database>, id: string, tags: readonly string[]): Promise<void> {
    const rows = [...new Set(tags)].map((value) => ({ image_id: id, value }));
    if (rows.length > 0) await trx.insertInto('image_tags').values(rows).execute();
  }
}

/** Thrown inside swapProperty's transaction to roll it back when the property was already set. */
class PropertySwapLost extends Error {}

/** SQLite's and PostgreSQL's duplicate-key failures. */
function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  return error.code === '23505' || error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || error.code === 'SQLITE_CONSTRAINT_UNIQUE';
}
