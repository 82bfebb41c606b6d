import type { Logger } from '../ports/logger.js';
import type { ImageRepository } from '../images/image-repository.js';
import type { StoreRegistry } from '../stores/store-registry.js';
import type { StoredObject } from '../stores/image-store.js';
import type { NodeRegistry } from '../coordination/node-registry.js';
import type { LeaseStore } from '../coordination/lease-store.js';
import { IMPORT_LOCK } from '../imports/import-properties.js';
import { STAGING_STORE_ID, type StagingArea } from '../imports/staging-area.js';
import { jobLeaseName } from '../tasks/task-runner.js';

/** A store object no image owns: an unfinished write, or data whose image row does not point to it. */
export interface OrphanObject extends StoredObject {
  readonly storeId: string;
}

/** A recorded location whose bytes are missing or unreadable: the image cannot be downloaded. */
export interface LostData {
  readonly imageId: string;
  readonly status: string;
  readonly storeId: string;
  readonly location: string;
  readonly reason: string;
}

export interface RecoveryReport {
  /** Images found in `saving` or being staged (the write died with the process) and put back to `queued`. */
  readonly requeued: readonly string[];
  readonly orphans: readonly OrphanObject[];
  /** Orphans actually removed (all of them unless a delete failed or `remove` was false). */
  readonly removed: number;
}

/**
 * Crash recovery (README "Image data"): after a SIGKILL mid-upload an image can be left in
 * `saving` and the store can hold a temporary file, or a finished file the database never
 * recorded. This pass, run before the API serves (and by `glimpse-manage data recover`), puts
 * such images back to `queued` with a failure note and lists or removes the orphan bytes.
 *
 * Several nodes may share the database and stores (README "Several nodes"). An upload is this
 * node's to recover when this node wrote it (its previous run died: this pass runs before the
 * node serves), when the node that wrote it is dead (no heartbeat for `node_dead_after`), or
 * when no node was recorded. Uploads of other live nodes, and the bytes they are writing, are
 * left alone.
 */
export class DataRecovery {
  constructor(
    private readonly repo: ImageRepository,
    private readonly stores: StoreRegistry,
    private readonly log: Logger,
    private readonly nodes: NodeRegistry,
    /** Import jobs' leases: an importing image whose job is held is being written right now. */
    private readonly leases: LeaseStore,
    /** The staging area of imports: its unfinished and unclaimed files are orphans too. */
    private readonly staging: StagingArea,
  ) {}

  /** Stage writes whose node stopped (or is this one, before it serves). */
  private async deadStages(): Promise<{ readonly live: ReadonlySet<string>; readonly dead: readonly string[] }> {
    const alive = await this.nodes.liveNodes();
    const live = new Set<string>();
    const dead: string[] = [];
    for (const stage of await this.repo.stagesInProgress()) {
      if (stage.node !== null && stage.node !== this.nodes.nodeId && alive.has(stage.node)) live.add(stage.id);
      else dead.push(stage.id);
    }
    return { live, dead };
  }

  /** Importing images whose job some node holds now: their store writes are in progress. */
  private async liveImports(): Promise<Set<string>> {
    const live = new Set<string>();
    for (const job of await this.repo.importsInProgress(IMPORT_LOCK)) {
      if (job.taskId !== null && (await this.leases.holder(jobLeaseName(job.taskId))) !== null) live.add(job.id);
    }
    return live;
  }

  /** Images being written right now by another live node. */
  private async othersUploads(): Promise<{ readonly live: ReadonlySet<string>; readonly dead: readonly string[] }> {
    const alive = await this.nodes.liveNodes();
    const live = new Set<string>();
    const dead: string[] = [];
    for (const upload of await this.repo.uploadsInProgress()) {
      if (upload.node !== null && upload.node !== this.nodes.nodeId && alive.has(upload.node)) live.add(upload.id);
      else dead.push(upload.id);
    }
    return { live, dead };
  }

  async run(options: { readonly remove: boolean; readonly requeue: boolean }): Promise<RecoveryReport> {
    const requeued: string[] = [];
    if (options.requeue) {
      // This node's earlier run is over: its jobs (imports, a scrub pass) may be taken over now.
      await this.leases.releaseNode(this.nodes.nodeId);
      for (const id of (await this.othersUploads()).dead) {
        if (await this.repo.transitionStatus(id, 'saving', 'queued', { size: null, virtual_size: null, uploading_node: null })) {
          await this.repo.recordUploadFailure(id, `${new Date().toISOString()} INTERRUPTED: the server stopped during the upload; upload again.`);
          requeued.push(id);
          this.log.warn({ imageId: id }, 'image was left in saving by a stopped server; back to queued');
        }
      }
      for (const id of (await this.deadStages()).dead) {
        if (await this.repo.transitionStatus(id, 'uploading', 'queued', { size: null, uploading_node: null })) {
          await this.staging.remove(id);
          await this.repo.recordUploadFailure(id, `${new Date().toISOString()} INTERRUPTED: the server stopped during the stage; stage again.`);
          requeued.push(id);
          this.log.warn({ imageId: id }, 'image was left being staged by a stopped server; back to queued');
        }
      }
    }
    const orphans = await this.findOrphans();
    let removed = 0;
    if (options.remove) {
      for (const orphan of orphans) {
        try {
          if (orphan.storeId === STAGING_STORE_ID) await this.staging.removeObject(orphan.location);
          else await this.stores.get(orphan.storeId)?.delete(orphan.location);
          removed += 1;
          this.log.warn({ store: orphan.storeId, location: orphan.location, imageId: orphan.imageId }, 'removed orphan image data');
        } catch (error) {
          this.log.error({ err: error, location: orphan.location }, 'could not remove orphan image data');
        }
      }
    }
    return { requeued, orphans, removed };
  }

  /** Locations whose data is gone from its store (reported; the operator decides what to do). */
  async findLostData(): Promise<LostData[]> {
    const lost: LostData[] = [];
    for (const location of await this.repo.allLocations()) {
      const store = this.stores.get(location.storeId);
      const base = { imageId: location.imageId, status: location.status, storeId: location.storeId, location: location.url };
      if (store === undefined) {
        lost.push({ ...base, reason: 'the store is not configured' });
        continue;
      }
      try {
        await store.stat(location.url);
      } catch (error) {
        lost.push({ ...base, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    return lost;
  }

  /**
   * Every object in every store that no location row refers to (partial writes included), but
   * for what another live node is writing: its temporary file, or its finished file in the moment
   * before the location row is written.
   */
  async findOrphans(): Promise<OrphanObject[]> {
    const orphans: OrphanObject[] = [];
    const { live } = await this.othersUploads();
    const importing = await this.liveImports();
    for (const store of this.stores.all()) {
      const known = await this.repo.locationUrls(store.id);
      for await (const object of store.list()) {
        if ((object.partial || !known.has(object.location)) && !live.has(object.imageId) && !importing.has(object.imageId)) {
          orphans.push({ ...object, storeId: store.id });
        }
      }
    }
    // Staged data is claimed while its image is uploading (staged, or being staged by a live
    // node) or importing; an unfinished write is an orphan unless a live node is still writing it.
    const staged: StoredObject[] = [];
    for await (const object of this.staging.objects()) staged.push(object);
    const statuses = await this.repo.statusesOf([...new Set(staged.map((o) => o.imageId))]);
    const staging = await this.deadStages();
    for (const object of staged) {
      const status = statuses.get(object.imageId);
      const claimed = status === 'uploading' || status === 'importing';
      const orphan = object.partial ? !staging.live.has(object.imageId) && !importing.has(object.imageId) : !claimed;
      if (orphan) orphans.push({ ...object, storeId: STAGING_STORE_ID });
    }
    return orphans;
  }
}
