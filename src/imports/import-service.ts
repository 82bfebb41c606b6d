import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { RequestContext } from '../auth/request-context.js';
import { ConflictError, GatewayTimeoutError, InvalidInputError, NotFoundError } from '../errors/domain-errors.js';
import type { ImageAccess } from '../images/image-access.js';
import { dataWriteError } from '../images/image-data-service.js';
import type { ImageRepository } from '../images/image-repository.js';
import { checkTransition } from '../images/image-status.js';
import type { Image } from '../images/image-types.js';
import type { StoreRegistry } from '../stores/store-registry.js';
import { checkUrl } from '../fetching/url-check.js';
import { UrlRefusedError } from '../fetching/fetch-errors.js';
import type { UrlFilterSettings } from '../fetching/url-filter-settings.js';
import { isFinished } from '../tasks/task-status.js';
import type { TaskRepository } from '../tasks/task-repository.js';
import { parseImportRequest, type ImportRequest } from './import-request.js';
import { FAILED_IMPORT, IMPORT_LOCK, IMPORTING_TO_STORES, joinStores, STAGE_HOST, storeList } from './import-properties.js';
import type { StagingArea } from './staging-area.js';
import type { ForwardedAnswer, StageHostForwarder } from './stage-host-forwarder.js';
import type { TokenVault } from './token-vault.js';
import type { CatalogService } from '../auth/request-context.js';

export interface ImportServiceOptions {
  /** `enabled_import_methods`. */
  readonly methods: readonly string[];
  /** `image_size_cap`: the most a stage may write. */
  readonly imageSizeCap: number;
  /** os_glance_stage_host (`worker_self_reference_url` or `public_endpoint`), or null. */
  readonly selfUrl: string | null;
  readonly nodeId: string;
  /** `[import_filtering_opts]`. */
  readonly urlFilter: UrlFilterSettings;
}

export interface ImportServiceDeps {
  readonly repo: ImageRepository;
  readonly access: ImageAccess;
  readonly stores: StoreRegistry;
  readonly tasks: TaskRepository;
  readonly staging: StagingArea;
  /** Tells the job runner a new job is waiting. */
  readonly wake: () => void;
  /** Replays a request to the node whose staging holds an image's data (reference §9.6). */
  readonly forwarder: StageHostForwarder;
  /** Keeps the user's token for a glance-download job, in memory only. */
  readonly vault: TokenVault;
  readonly options: ImportServiceOptions;
}

export interface StageRequest {
  readonly body: Readable;
  readonly signal: AbortSignal;
}

/**
 * Interoperable import, the API side (reference §9.2, §9.3): staging, and the checks that turn
 * an import request into a task. The work itself is a durable job (src/imports/import-job.ts).
 */
export class ImportService {
  constructor(private readonly deps: ImportServiceDeps) {}

  /** `enabled_import_methods`, as `/v2/info/import` and the image-create header list them. */
  get methods(): readonly string[] {
    return this.deps.options.methods;
  }

  /** `PUT /v2/images/{id}/stage`: queued → uploading, the bytes into staging (reference §9.2). */
  async stage(context: RequestContext, id: string, request: StageRequest): Promise<void> {
    const { repo, access, staging, options } = this.deps;
    if (!options.methods.includes('glance-direct')) throw new NotFoundError("'glance-direct' method is not available at this site.");
    const loaded = await access.loadForWrite(context, id, 'modify_image', 'You are not authorized to complete modify_image action.');
    const image = loaded.image;
    checkTransition(image.status, 'uploading', image);
    if (!(await repo.transitionStatus(id, 'queued', 'uploading', { uploading_node: options.nodeId }))) {
      throw new ConflictError(`Image status transition from ${image.status} to uploading is not allowed`);
    }
    try {
      // A queued image has no import in progress, so whatever is staged for it was left by a
      // stage that failed before it could clean up (a crash): it is replaced, where Glance
      // would answer 409 for ever.
      await staging.remove(id);
      const size = await staging.write(id, request.body, options.imageSizeCap, request.signal);
      await repo.applyChanges(id, 'uploading', {
        columns: { size, uploading_node: null },
        setProperties: options.selfUrl === null ? {} : { [STAGE_HOST]: options.selfUrl },
        removeProperties: [],
        tags: null,
      });
    } catch (error) {
      await staging.remove(id).catch(() => undefined);
      await repo.transitionStatus(id, 'uploading', 'queued', { size: null, uploading_node: null });
      throw dataWriteError(error, false);
    }
  }

  /**
   * `POST /v2/images/{id}/import` → 202: every check of reference §9.3, in order, then the task.
   * The stage host's answer when the request had to be replayed there (§9.6), else null.
   */
  async import(context: RequestContext, id: string, body: unknown, storeHeader: string | null): Promise<ForwardedAnswer | null> {
    const { repo, access, tasks, options } = this.deps;
    const request = parseImportRequest(body, options.methods);
    access.requireWritable(context);
    const loaded = await access.load(context, id);
    const image = loaded.image;
    this.checkStatus(image, request.method);
    const copying = request.method === 'copy-image';
    if (copying) {
      // copy_image is admin-only by default, and copies images the caller need not own (reference §9.3 step 5).
      access.authorize(context, 'copy_image', loaded, 'You are not authorized to complete copy_image action.');
    } else {
      access.authorize(context, 'modify_image', loaded, 'You are not authorized to complete modify_image action.');
      access.requireOwner(context, loaded);
    }
    let stores = this.targetStores(request, storeHeader);
    if (copying) {
      const holding = new Set(image.stores.length > 0 ? image.stores : (await repo.listLocations(id)).map((l) => l.storeId));
      if (request.allStores) {
        // Every store but those that hold it already; none left is a 202 that does nothing.
        stores = stores.filter((s) => !holding.has(s));
        if (stores.length === 0) return null;
      } else {
        const present = stores.find((s) => holding.has(s));
        if (present !== undefined) throw new InvalidInputError(`Image is already present at store '${present}'`);
      }
    }
    // Staged on another node: that node imports it, since only it has the bytes (reference §9.3 step 9).
    const stageHost = image.properties[STAGE_HOST];
    if (request.method === 'glance-direct' && stageHost !== undefined && stageHost !== options.selfUrl) {
      return this.deps.forwarder.forward(stageHost, 'POST', `/v2/images/${id}/import`, context, body, storeHeader);
    }
    if (request.method === 'web-download') this.checkSource(request.uri ?? '', 'web-download');
    const remote = request.remote === null ? null : this.remoteService(context, request.remote);
    const lock = await this.breakableLock(image);
    const taskId = randomUUID();
    if (!(await repo.swapProperty(id, IMPORT_LOCK, lock, taskId))) {
      throw new ConflictError(`New operation on image '${id}' is not permitted as prior operation is still in progress`);
    }
    await tasks.create({
      id: taskId,
      type: 'api_image_import',
      owner: image.owner,
      imageId: id,
      requestId: context.requestId,
      userId: context.userId,
      input: { image_id: id, import_req: request.body, backend: stores },
      // inject_image_metadata asks who imported (reference §9.7); the job has no request.
      progress: { roles: [...context.roles], ...(remote === null ? {} : { remote }) },
    });
    if (remote !== null && context.authToken !== null) this.deps.vault.keep(taskId, context.authToken);
    // The flow is built now, as Glance builds it in the request (reference §9.4): the image is
    // importing (a copy stays active) and says where to. Should this process stop right here,
    // the job does it.
    const from = request.method === 'glance-direct' ? 'uploading' : 'queued';
    if (copying || (await repo.transitionStatus(id, from, 'importing'))) {
      await repo.setServerProperties(
        id,
        {
          [IMPORTING_TO_STORES]: joinStores([...storeList(image.properties[IMPORTING_TO_STORES]), ...stores]),
          [FAILED_IMPORT]: joinStores(storeList(image.properties[FAILED_IMPORT]).filter((s) => !stores.includes(s))),
        },
        [STAGE_HOST],
      );
    }
    this.deps.wake();
    return null;
  }

  /**
   * A delete of a staged or importing image that reached another node than its stage host goes
   * to the stage host, which removes the staged bytes too (reference §9.6). True when the stage
   * host did it; false when it is this node's to do, or the stage host cannot be reached (the
   * delete goes on here, as in Glance, and the stage host's recovery removes the bytes later).
   */
  async forwardDelete(context: RequestContext, image: Image): Promise<boolean> {
    const stageHost = image.properties[STAGE_HOST];
    if (stageHost === undefined || stageHost === this.deps.options.selfUrl) return false;
    if (image.status !== 'uploading' && image.status !== 'importing') return false;
    try {
      await this.deps.forwarder.forward(stageHost, 'DELETE', `/v2/images/${image.id}`, context, undefined, null);
      return true;
    } catch (error) {
      if (error instanceof GatewayTimeoutError) return false;
      throw error;
    }
  }

  /**
   * What can be decided about a web-download URL without a network lookup (scheme, host and port
   * lists, literal addresses, odd host forms) is a 400 here (reference §9.3 step 10); what needs
   * DNS is decided by the job, which fails the task with the rule the URL broke.
   */
  private checkSource(uri: string, method: string): void {
    try {
      checkUrl(uri, this.deps.options.urlFilter);
    } catch (error) {
      if (error instanceof UrlRefusedError) throw new InvalidInputError(`URI for ${method} does not pass filtering: ${error.url} (${error.message})`);
      throw error;
    }
  }

  /**
   * glance-download's source (reference §9.4 step 2): the image service of the region asked for,
   * from the caller's own service catalog, at the interface asked for. Found now, while the
   * request's token and catalog are at hand; a region the catalog lacks is a 400 here (Glance
   * fails the task later with the same finding).
   */
  private remoteService(context: RequestContext, remote: NonNullable<ImportRequest['remote']>): { url: string; imageId: string } {
    const endpoint = context.serviceCatalog
      .filter((service: CatalogService) => service.type === 'image')
      .flatMap((service) => service.endpoints)
      .find((e) => e.interface === remote.serviceInterface && (e.region_id ?? e.region) === remote.region);
    if (endpoint === undefined) {
      throw new InvalidInputError(`No image service in region '${remote.region}' (interface ${remote.serviceInterface}) in the token's service catalog`);
    }
    if (context.authToken === null) throw new InvalidInputError('glance-download needs a token to read the remote image');
    this.checkSource(endpoint.url, 'glance-download');
    return { url: endpoint.url, imageId: remote.imageId };
  }

  /** Glance's status preconditions (reference §9.3 step 3). */
  private checkStatus(image: Image, method: string): void {
    if (method === 'copy-image') {
      if (image.status !== 'active') throw new ConflictError('Only images with status active can be targeted for copying');
      return;
    }
    if (image.status === 'active') throw new ConflictError('Image with status active cannot be target for import');
    if ((method === 'web-download' || method === 'glance-download') && image.status !== 'queued')
      throw new ConflictError(`Image needs to be in 'queued' state to use '${method}' method`);
    if (method === 'glance-direct' && image.status !== 'uploading') {
      throw new ConflictError("Image needs to be staged before 'glance-direct' method can be used");
    }
    if (image.containerFormat === null) throw new ConflictError("'container_format' needs to be set before import");
    if (image.diskFormat === null) throw new ConflictError("'disk_format' needs to be set before import");
  }

  /** The stores to import into (reference §9.3 step 7): the request's, the header's, every one, or the default. */
  private targetStores(request: ImportRequest, header: string | null): string[] {
    const registry = this.deps.stores;
    if (!registry.multiStore) {
      if (!request.allStoresMustSucceed) {
        throw new InvalidInputError('All_stores_must_succeed can only be set with enabled_backends');
      }
      return [registry.defaultStore.id];
    }
    if (request.allStores && (request.stores !== null || header !== null)) {
      throw new InvalidInputError("All_stores parameter can't be used with x-image-meta-store header or stores parameter");
    }
    if (request.stores !== null && header !== null) throw new InvalidInputError("Stores parameter and x-image-meta-store header can't be both specified");
    const wanted = request.allStores ? registry.all().map((s) => s.id) : (request.stores ?? [header ?? registry.defaultStore.id]);
    for (const store of wanted) if (registry.get(store) === undefined) throw new ConflictError(`Unknown scheme '${store}' found in URI`);
    return [...new Set(wanted)];
  }

  /**
   * The current lock, when it may be replaced: none, or one whose task is gone or finished
   * (reference §9.3 step 6). A lock whose task is unfinished is never broken here, however old:
   * its job is durable and is resumed by a live node (Glance breaks such a lock after an hour,
   * because its thread may have died with the process).
   */
  private async breakableLock(image: Image): Promise<string | null> {
    const lock = image.properties[IMPORT_LOCK];
    if (lock === undefined) return null;
    const task = await this.deps.tasks.findById(lock);
    if (task === null || isFinished(task.status)) return lock;
    throw new ConflictError('Image has active task');
  }
}
