import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../auth/request-context.js';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError, QuotaExceededError } from '../errors/domain-errors.js';
import type { ImageAccess, LoadedImage } from './image-access.js';
import { parseListQuery, type ListLimits, type QueryParams } from './image-list-query.js';
import type { PatchOperation, PatchStyle } from './image-patch.js';
import type { ImageColumnChanges, ImageRepository } from './image-repository.js';
import { BASE_ATTRIBUTES, type ImageSchemaValidator } from './image-schema.js';
import { checkTransition } from './image-status.js';
import type { Image, Visibility } from './image-types.js';
import { actorOf, type ImageEvent } from './image-events.js';
import type { EventSink } from '../ports/events.js';
import type { Metrics } from '../ports/metrics.js';

/** The four operations property protections govern (reference §6). */
export type PropertyOperation = 'create' | 'read' | 'update' | 'delete';

/** Property protections as the service consults them (src/protections). */
export interface PropertyRules {
  check(property: string, operation: PropertyOperation, context: RequestContext): boolean;
}

export interface ImageQuotas {
  /** Negative means unlimited, as in Glance (reference §13.1). */
  readonly imagePropertyQuota: number;
  readonly imageTagQuota: number;
}

export interface ImageListPage {
  readonly images: readonly Image[];
  /** True when the page is full, so a `next` link is due (reference §2.4). */
  readonly hasNext: boolean;
}

/** Attributes a client may never write (reference §2.2 steps 1 and 4, §2.5). */
const READ_ONLY = new Set([
  'status',
  'checksum',
  'size',
  'virtual_size',
  'created_at',
  'updated_at',
  'direct_url',
  'self',
  'file',
  'schema',
  'stores',
  'id',
  'os_hash_algo',
  'os_hash_value',
]);
/** Keys refused before schema validation on create (reference §2.2 step 1). */
const READ_ONLY_BEFORE_SCHEMA = new Set(['direct_url', 'self', 'file', 'schema', 'stores']);
const RESERVED = new Set(['location', 'deleted', 'deleted_at', 'locations']);
const MAX_INT32 = 2147483647;

/** `os_glance_*` is Glance's; `os_glimpse_*` holds facts Glimpse records (e.g. an upload failure). */
function isServerOwned(key: string): boolean {
  return key.startsWith('os_glance') || key.startsWith('os_glimpse_');
}

function isReserved(key: string): boolean {
  return RESERVED.has(key) || isServerOwned(key);
}

/** The properties signature verification reads (reference §7). */
function isSignatureProperty(key: string): boolean {
  return key.startsWith('img_signature') || key === 'mask_gen_algorithm' || key === 'pss_salt_length';
}

function countsTowardPropertyQuota(key: string): boolean {
  return !isServerOwned(key);
}

/** PostgreSQL text cannot hold NUL; refuse it everywhere rather than fail on one backend. */
export function assertNoNul(value: unknown, what: string): void {
  const strings = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  if (strings.some((s) => s.includes('\u0000'))) throw new InvalidInputError(`${what} can't contain NUL characters.`);
}

function checkIntRange(name: string, value: unknown): void {
  if (typeof value !== 'number') return;
  if (value < 0) throw new InvalidInputError(`Invalid value '${value}' for parameter '${name}': Cannot be a negative value`);
  if (value > MAX_INT32) throw new InvalidInputError(`'${name}' value out of range, must not exceed ${MAX_INT32}.`);
}

/** The writable base attributes, by their API name, and the column each maps to. */
const BASE_COLUMNS = {
  name: 'name',
  visibility: 'visibility',
  protected: 'protected',
  os_hidden: 'os_hidden',
  owner: 'owner',
  min_ram: 'min_ram',
  min_disk: 'min_disk',
  disk_format: 'disk_format',
  container_format: 'container_format',
} as const;
type BaseKey = keyof typeof BASE_COLUMNS;

function isBaseKey(key: string): key is BaseKey {
  return key in BASE_COLUMNS;
}

function toColumnValue(key: BaseKey, value: unknown): ImageColumnChanges[BaseKey] {
  if (key === 'protected' || key === 'os_hidden') return value === true ? 1 : 0;
  return value as ImageColumnChanges[BaseKey];
}

/** The working copy a PATCH edits before it is saved in one go. */
interface Draft {
  columns: ImageColumnChanges;
  properties: Map<string, string>;
  tags: string[] | null;
}

export interface ImageServiceDeps {
  readonly repo: ImageRepository;
  readonly access: ImageAccess;
  readonly validator: ImageSchemaValidator;
  readonly quotas: ImageQuotas;
  readonly limits: ListLimits;
  /** Removes a deleted image's stored data (ImageDataService). */
  readonly data: { purge(imageId: string): Promise<boolean> };
  /**
   * Data staged for an import (src/imports): removed with its image, or the whole delete done by
   * the node whose staging holds it (distributed staging: true when that node did it).
   */
  readonly staged: { remove(imageId: string): Promise<void>; forwardDelete(context: RequestContext, image: Image): Promise<boolean> } | null;
  /** `delayed_delete`: leave the data to the scrubber (reference §12). */
  readonly delayedDelete: boolean;
  /** Property protections, or null when `property_protection_file` is unset (reference §6). */
  readonly protections: PropertyRules | null;
  /** Refuses img_signature* property sets that could never verify (reference §7). */
  readonly signatures: { validate(properties: Readonly<Record<string, string>>): void } | null;
  readonly events: EventSink<ImageEvent>;
  readonly metrics: Metrics;
}

export class ImageService {
  private readonly repo: ImageRepository;
  private readonly access: ImageAccess;
  private readonly validator: ImageSchemaValidator;
  private readonly quotas: ImageQuotas;
  private readonly limits: ListLimits;
  private readonly data: ImageServiceDeps['data'];
  private readonly delayedDelete: boolean;
  private readonly staged: ImageServiceDeps['staged'];
  private readonly protections: PropertyRules | null;
  private readonly signatures: ImageServiceDeps['signatures'];
  private readonly events: EventSink<ImageEvent>;
  private readonly metrics: Metrics;

  constructor(deps: ImageServiceDeps) {
    ({
      repo: this.repo,
      access: this.access,
      validator: this.validator,
      quotas: this.quotas,
      limits: this.limits,
      data: this.data,
      delayedDelete: this.delayedDelete,
      staged: this.staged,
      protections: this.protections,
      signatures: this.signatures,
      events: this.events,
      metrics: this.metrics,
    } = deps);
  }

  async get(context: RequestContext, id: string): Promise<Image> {
    return this.readable(context, (await this.access.load(context, id)).image);
  }

  /**
   * Whether the caller may do `operation` on an extra property. Base attributes are never
   * protected; neither are the server-owned `os_glance_*` / `os_glimpse_*` facts, which no user
   * may write anyway.
   */
  private allowed(context: RequestContext, key: string, operation: PropertyOperation): boolean {
    return this.protections === null || isServerOwned(key) || this.protections.check(key, operation, context);
  }

  /** The image as the caller may see it: properties it may not read are left out (reference §6). */
  private readable(context: RequestContext, image: Image): Image {
    if (this.protections === null) return image;
    const properties = Object.fromEntries(Object.entries(image.properties).filter(([key]) => this.allowed(context, key, 'read')));
    return { ...image, properties };
  }

  async list(context: RequestContext, params: QueryParams): Promise<ImageListPage> {
    if (!this.access.enforceGlobal(context, 'get_images', { project_id: context.projectId })) {
      throw new ForbiddenError('You are not authorized to complete get_images action.');
    }
    const query = parseListQuery(params, this.limits);
    let marker: Image | null = null;
    if (query.marker !== null) {
      const image = query.marker.length <= 36 ? await this.repo.findById(query.marker) : null;
      // Glance maps an unknown marker to 400 (reference §2.4).
      if (image === null) throw new InvalidInputError(`Invalid marker. Image ${query.marker} could not be found.`);
      try {
        marker = (await this.access.load(context, query.marker)).image;
      } catch (error) {
        if (error instanceof NotFoundError) throw new ForbiddenError(`Forbidden to access marker ${query.marker}`);
        throw error;
      }
    }
    if (query.limit === 0) return { images: [], hasNext: false };
    const rows = await this.repo.list(query, { projectId: context.projectId, isAdmin: context.isAdmin }, marker);
    // The get_image policy filters silently after the query (reference §2.4). A non-owner sees a
    // shared image in a list only through a member row, hence callerIsMember below.
    const images = rows.filter((image) =>
      this.access.allows(context, 'get_image', { image, callerIsMember: image.owner !== context.projectId && image.visibility === 'shared' }),
    );
    return { images: images.map((image) => this.readable(context, image)), hasNext: rows.length === query.limit };
  }

  async create(context: RequestContext, body: unknown): Promise<Image> {
    this.access.requireWritable(context);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidInputError("Provided object does not match schema 'image': body is not an object");
    }
    const input = body as Record<string, unknown>;
    for (const key of Object.keys(input)) {
      if (READ_ONLY_BEFORE_SCHEMA.has(key)) throw new ForbiddenError(`Attribute '${key}' is read-only.`);
    }
    for (const [key, value] of Object.entries(input)) {
      if (key.length > 255) throw new InvalidInputError('Custom property should not be greater than 255 characters.');
      assertNoNul(key, 'Property names');
      assertNoNul(value, `'${key}'`);
    }
    this.validator.check(input);
    for (const key of Object.keys(input)) {
      if (isReserved(key)) throw new ForbiddenError(`Attribute '${key}' is reserved.`);
      // os_hash_* are read-only too: Glance silently stores them as hidden properties (reference §2.2 quirk).
      if (READ_ONLY.has(key) && key !== 'id') throw new ForbiddenError(`Attribute '${key}' is read-only.`);
    }
    checkIntRange('min_ram', input['min_ram']);
    checkIntRange('min_disk', input['min_disk']);

    const visibility = (input['visibility'] as Visibility | undefined) ?? 'shared';
    const owner = input['owner'] === undefined ? context.projectId : (input['owner'] as string | null);
    const target = { project_id: owner, owner, visibility };
    if (!this.access.enforceGlobal(context, 'add_image', target)) throw new ForbiddenError('You are not authorized to complete add_image action.');
    // Glance lets a token without a project (domain- or system-scoped) create an image with no
    // owner, which every user can then see (reference §5.2): public in all but name, without
    // publicize_image. Only an admin may create an ownerless image here.
    if (!context.isAdmin && owner === null) {
      throw new ForbiddenError('Creating an image needs a project-scoped token: the image would have no owner.');
    }
    if (!context.isAdmin && owner !== context.projectId) {
      throw new ForbiddenError(`You are not permitted to create images owned by '${String(owner)}'`);
    }
    this.checkVisibilityPolicy(context, visibility, target);

    const properties: Record<string, string> = {};
    for (const [key, value] of Object.entries(input)) {
      if (BASE_ATTRIBUTES.has(key)) continue;
      if (!this.allowed(context, key, 'create')) throw new ForbiddenError(`Attribute '${key}' is reserved.`);
      properties[key] = value as string;
    }
    const tags = [...new Set((input['tags'] as string[] | undefined) ?? [])];
    this.checkTagQuota(input['id'] as string | undefined, tags.length);
    this.checkPropertyQuota(Object.keys(properties));
    this.signatures?.validate(properties);

    const created = await this.repo.create(
      {
        id: (input['id'] as string | undefined)?.toLowerCase() ?? randomUUID(),
        name: (input['name'] as string | null | undefined) ?? null,
        status: 'queued',
        visibility,
        protected: input['protected'] === true ? 1 : 0,
        os_hidden: input['os_hidden'] === true ? 1 : 0,
        checksum: null,
        os_hash_algo: null,
        os_hash_value: null,
        owner,
        size: null,
        virtual_size: null,
        min_ram: (input['min_ram'] as number | undefined) ?? 0,
        min_disk: (input['min_disk'] as number | undefined) ?? 0,
        disk_format: (input['disk_format'] as string | null | undefined) ?? null,
        container_format: (input['container_format'] as string | null | undefined) ?? null,
      },
      properties,
      tags,
    );
    this.events.emit({ type: 'image.created', actor: actorOf(context), image: created });
    this.metrics.count('glimpse_images_created_total');
    return this.readable(context, created);
  }

  async update(context: RequestContext, id: string, style: PatchStyle, operations: readonly PatchOperation[]): Promise<Image> {
    const loaded = await this.access.loadForWrite(context, id, 'modify_image', 'You are not authorized to complete modify_image action.');
    if (operations.length === 0) return this.readable(context, loaded.image);

    const draft: Draft = { columns: {}, properties: new Map(Object.entries(loaded.image.properties)), tags: null };
    for (const operation of operations) this.applyOperation(context, loaded, style, operation, draft);

    const before = new Set(Object.keys(loaded.image.properties));
    const added = [...draft.properties.keys()].filter((k) => !before.has(k));
    if (added.length > 0) this.checkPropertyQuota([...draft.properties.keys()]);
    if (draft.tags !== null) this.checkTagQuota(id, draft.tags.length);

    const setProperties: Record<string, string> = {};
    for (const [key, value] of draft.properties) {
      if (loaded.image.properties[key] !== value) setProperties[key] = value;
    }
    // Only what the operations changed is written: properties the caller cannot read stay as they
    // are (Glance deletes them on any save by such a caller: reference §6 data-loss quirk).
    const removeProperties = [...before].filter((k) => !draft.properties.has(k));
    if ([...Object.keys(setProperties), ...removeProperties].some(isSignatureProperty)) this.signatures?.validate(Object.fromEntries(draft.properties));
    const saved = await this.repo.applyChanges(id, loaded.image.status, { columns: draft.columns, setProperties, removeProperties, tags: draft.tags });
    this.events.emit({ type: 'image.updated', actor: actorOf(context), image: saved });
    return this.readable(context, saved);
  }

  private applyOperation(context: RequestContext, loaded: LoadedImage, style: PatchStyle, operation: PatchOperation, draft: Draft): void {
    const key = operation.path[0] ?? '';
    if (key === 'locations') {
      // Locations are never shown to users (reference §8.2: needs show_multiple_locations).
      const verb = operation.op === 'add' ? 'add' : operation.op === 'replace' ? 'update' : 'remove';
      throw new ForbiddenError(`It's not allowed to ${verb} locations if locations are invisible.`);
    }
    if (READ_ONLY.has(key)) throw new ForbiddenError(`Attribute '${key}' is read-only.`);
    if (isReserved(key)) throw new ForbiddenError(`Attribute '${key}' is reserved.`);
    const image = loaded.image;
    // A property the caller may not read does not exist for it (reference §6).
    const extraExists = draft.properties.has(key) && this.allowed(context, key, 'read');
    const exists = isBaseKey(key) || key === 'tags' || extraExists;

    if (operation.op === 'remove') {
      if (isBaseKey(key) || key === 'tags' || BASE_ATTRIBUTES.has(key)) throw new ForbiddenError(`Property ${key} may not be removed.`);
      if (!extraExists) throw new ConflictError(`Property ${key} does not exist.`);
      if (!this.allowed(context, key, 'delete')) throw new ForbiddenError(`Attribute '${key}' is reserved.`);
      draft.properties.delete(key);
      return;
    }

    if (key.length > 255) throw new InvalidInputError('Custom property should not be greater than 255 characters.');
    assertNoNul(key, 'Property names');
    assertNoNul(operation.value, `'${key}'`);
    this.validator.check({ [key]: operation.value });
    // Replacing an unreadable property is a create when the caller may create it (reference §6).
    const createsExtra = !isBaseKey(key) && key !== 'tags' && !extraExists;
    if (operation.op === 'replace' && !exists && (this.protections === null || !this.allowed(context, key, 'create'))) {
      throw new ConflictError(`Property ${key} does not exist.`);
    }
    if (operation.op === 'add' && style === 'v2.0' && exists) throw new ConflictError(`Property ${key} already present.`);
    if (!isBaseKey(key) && key !== 'tags' && !this.allowed(context, key, createsExtra ? 'create' : 'update')) {
      throw new ForbiddenError(`Attribute '${key}' is reserved.`);
    }

    if (key === 'tags') {
      draft.tags = [...new Set(operation.value as string[])];
      return;
    }
    if (!isBaseKey(key)) {
      draft.properties.set(key, operation.value as string);
      return;
    }
    switch (key) {
      case 'owner':
        // Glance forgets this check for `add /owner` (reference §2.5 quirk); we apply it to both.
        if (!context.isAdmin) throw new ForbiddenError("Owner can't be updated by non admin.", { placement: 'detail' });
        break;
      case 'visibility':
        this.checkVisibilityPolicy(context, operation.value as Visibility, this.access.target(context, loaded));
        break;
      case 'disk_format':
      case 'container_format':
        if (image.status !== 'queued' && image.status !== 'importing' && operation.value !== image[key === 'disk_format' ? 'diskFormat' : 'containerFormat']) {
          throw new ForbiddenError(`Attribute ${key} can be only replaced for a queued image.`);
        }
        break;
      case 'min_ram':
      case 'min_disk':
        checkIntRange(key, operation.value);
        break;
      case 'name':
      case 'protected':
      case 'os_hidden':
        break;
    }
    Object.assign(draft.columns, { [BASE_COLUMNS[key]]: toColumnValue(key, operation.value) });
  }

  async delete(context: RequestContext, id: string): Promise<void> {
    const loaded = await this.access.loadForWrite(context, id, 'delete_image', 'You are not authorized to complete delete_image action.');
    if (loaded.image.protected) throw new ForbiddenError(`Image ${id} is protected and cannot be deleted.`);
    if (this.staged !== null && (await this.staged.forwardDelete(context, loaded.image))) return;
    // An image with data goes through pending_delete (soft-deleted at once, reference §12), so a
    // purge cut short by a crash or a store error is finished by the scrubber, never forgotten.
    const hasData = (await this.repo.listLocations(id)).length > 0;
    const target = hasData ? 'pending_delete' : 'deleted';
    checkTransition(loaded.image.status, target, loaded.image);
    if (!(await this.repo.transitionStatus(id, loaded.image.status, target))) {
      // Someone else changed the image between our read and the compare-and-set.
      if ((await this.repo.findById(id)) === null) throw new NotFoundError(`No image found with ID ${id}`);
      throw new ConflictError(`Image ${id} changed while it was being deleted; retry.`);
    }
    this.events.emit({ type: 'image.deleted', actor: actorOf(context), image: { ...loaded.image, status: target } });
    this.metrics.count('glimpse_images_deleted_total');
    // A staged or importing image's bytes wait in staging; they go with it (Glance leaves them
    // behind when its node cannot be reached; recovery removes what is left over here).
    if (this.staged !== null && (loaded.image.status === 'uploading' || loaded.image.status === 'importing')) await this.staged.remove(id);
    if (target === 'deleted') {
      await this.repo.purgeDetails(id);
      return;
    }
    // Synchronous delete (the default): the data goes before the answer (reference §2.6 step 6).
    if (!this.delayedDelete && (await this.data.purge(id)) && (await this.repo.transitionStatus(id, 'pending_delete', 'deleted'))) {
      await this.repo.purgeDetails(id);
    }
  }

  /** active → deactivated; a no-op when already deactivated (reference §2.7). */
  async deactivate(context: RequestContext, id: string): Promise<void> {
    await this.toggleActivation(context, id, 'deactivate');
  }

  /** deactivated → active; a no-op when already active (reference §2.7). */
  async reactivate(context: RequestContext, id: string): Promise<void> {
    await this.toggleActivation(context, id, 'reactivate');
  }

  private async toggleActivation(context: RequestContext, id: string, action: 'deactivate' | 'reactivate'): Promise<void> {
    const loaded = await this.access.loadForWrite(context, id, action, `You are not authorized to complete ${action} action.`);
    const [from, to] = action === 'deactivate' ? (['active', 'deactivated'] as const) : (['deactivated', 'active'] as const);
    const status = loaded.image.status;
    if (status === to) return;
    if (status !== from) throw new ForbiddenError(`Not allowed to ${action} image in status '${status}'`);
    if (!(await this.repo.transitionStatus(id, from, to))) {
      throw new ConflictError(`Image status transition from ${from} to ${to} is not allowed`);
    }
    this.events.emit({ type: 'image.updated', actor: actorOf(context), image: { ...loaded.image, status: to } });
  }

  async addTag(context: RequestContext, id: string, tag: string): Promise<void> {
    const denied = `Not allowed to update tags for image ${id}.`;
    const loaded = await this.access.loadForWrite(context, id, 'modify_image', denied, denied);
    assertNoNul(tag, 'Tags');
    this.validator.check({ tags: [tag] });
    const added = !loaded.image.tags.includes(tag);
    if (added) this.checkTagQuota(id, loaded.image.tags.length + 1);
    await this.repo.addTag(id, tag);
    if (added) this.events.emit({ type: 'image.updated', actor: actorOf(context), image: { ...loaded.image, tags: [...loaded.image.tags, tag] } });
  }

  async removeTag(context: RequestContext, id: string, tag: string): Promise<void> {
    const denied = `Not allowed to delete tags for image ${id}.`;
    const loaded = await this.access.loadForWrite(context, id, 'modify_image', denied, denied);
    if (!(await this.repo.removeTag(id, tag))) throw new NotFoundError(`Tag ${tag} not found`);
    this.events.emit({ type: 'image.updated', actor: actorOf(context), image: { ...loaded.image, tags: loaded.image.tags.filter((t) => t !== tag) } });
  }

  /** Sharing policies (reference §5.4): public needs publicize_image, community communitize_image. */
  private checkVisibilityPolicy(context: RequestContext, visibility: Visibility, target: Readonly<Record<string, unknown>>): void {
    const rule = visibility === 'public' ? 'publicize_image' : visibility === 'community' ? 'communitize_image' : null;
    if (rule !== null && !this.access.enforceGlobal(context, rule, target)) {
      throw new ForbiddenError(`You are not authorized to complete ${rule} action.`);
    }
  }

  private checkTagQuota(id: string | undefined, count: number): void {
    const max = this.quotas.imageTagQuota;
    if (max >= 0 && count > max) {
      throw new QuotaExceededError(
        `Image tag limit exceeded for image ${id ?? ''}: The limit has been exceeded on the number of allowed image tags. Attempted: ${count}, Maximum: ${max}`,
      );
    }
  }

  private checkPropertyQuota(keys: readonly string[]): void {
    const max = this.quotas.imagePropertyQuota;
    const count = keys.filter(countsTowardPropertyQuota).length;
    if (max >= 0 && count > max) {
      throw new QuotaExceededError(`The limit has been exceeded on the number of allowed image properties. Attempted: ${count}, Maximum: ${max}`);
    }
  }
}
