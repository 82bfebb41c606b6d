import { pipeline, Transform, type Readable } from 'node:stream';
import { backgroundContext, type RequestContext } from '../auth/request-context.js';
import { DomainError } from '../errors/domain-errors.js';
import type { ImageDataService } from '../images/image-data-service.js';
import type { ImageRepository } from '../images/image-repository.js';
import type { Image } from '../images/image-types.js';
import type { Logger } from '../ports/logger.js';
import type { TaskRepository } from '../tasks/task-repository.js';
import type { JobContext } from '../tasks/task-runner.js';
import type { Task } from '../tasks/task-types.js';
import { FAILED_IMPORT, IMPORT_FAILURE, IMPORT_LOCK, IMPORTING_TO_STORES, joinStores, STAGE_HOST, storeList } from './import-properties.js';
import type { StagingArea } from './staging-area.js';
import type { TokenVault } from './token-vault.js';
import { checkpoint } from './import-checkpoints.js';
import { BASE_ATTRIBUTES } from '../images/image-schema.js';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { ImportPlugin, StagedImage } from './plugins/import-plugin.js';
import type { RegionBudget } from '../buffers/region-budget.js';
import { RegionPacker } from '../buffers/region-packer.js';

/** Where web-download reads from: a fetcher that applies `[import_filtering_opts]` (src/fetching). */
export interface WebSource {
  open(
    url: string,
    signal: AbortSignal,
    options?: { readonly headers?: Readonly<Record<string, string>> },
  ): Promise<{ readonly url: string; readonly body: Readable; readonly contentLength: number | null }>;
}

export interface ImportJobDeps {
  readonly repo: ImageRepository;
  readonly data: ImageDataService;
  readonly tasks: TaskRepository;
  readonly staging: StagingArea;
  readonly web: WebSource | null;
  /** What a download straight into a store is packed into (the process's import budget). */
  readonly regions: RegionBudget;
  /** Users' tokens for glance-download, in this process's memory only. */
  readonly vault: TokenVault;
  /** `[image_import_opts] image_import_plugins`, in order. */
  readonly plugins: readonly ImportPlugin[];
  readonly options: {
    readonly imageSizeCap: number;
    readonly taskTimeToLiveHours: number;
    readonly workDir: string;
    /** `[glance_download_properties] extra_properties`: prefixes of the properties glance-download copies. */
    readonly extraProperties: readonly string[];
    /** Where a legacy import task stores its image. */
    readonly defaultStore: string;
  };
  readonly log: Logger;
}

/** How often a running copy (download, or into a store) updates its task. */
const PROGRESS_MS = 5000;

/** What the import plugins made of the staged data, recorded before it is applied. */
interface PluginsOutcome {
  /** The file to stage in place of the original, or null when the data was left as it was. */
  readonly output: string | null;
  readonly diskFormat: string;
  readonly containerFormat: string;
  readonly size: number;
  readonly virtualSize: number | null;
  readonly properties: Readonly<Record<string, string>>;
}

/** Image data to fetch from a URL (web-download, glance-download). */
interface Download {
  readonly url: string;
  /** Request headers (glance-download's token), sent only to the URL's own origin. */
  readonly headers: Readonly<Record<string, string>>;
  /** The size the data must have when the response has no Content-Length, if known. */
  readonly expected: number | null;
  /** The import method, for messages. */
  readonly method: string;
}

/** Passes chunks on, telling `add` each one's size (a download's progress). */
function counter(add: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done): void {
      add(chunk.length);
      done(null, chunk);
    },
  });
}

/** A failure the task reports as it is (its message is the task's message). */
class ImportFailure extends Error {}

interface ImportInput {
  readonly imageId: string;
  readonly method: string;
  readonly uri: string | null;
  readonly stores: readonly string[];
  readonly allStoresMustSucceed: boolean;
}

function inputOf(task: Task, defaultStore = ''): ImportInput {
  const input = task.input ?? {};
  if (task.type === 'import') {
    // A legacy import task (reference §10) is a web-download into the default store, once its
    // image exists (src/imports/legacy-import-job.ts).
    const from = input['import_from'];
    return {
      imageId: task.imageId ?? '',
      method: 'web-download',
      uri: typeof from === 'string' ? from : null,
      stores: [defaultStore],
      allStoresMustSucceed: true,
    };
  }
  const request = (input['import_req'] ?? {}) as { method?: { name?: unknown; uri?: unknown }; all_stores_must_succeed?: unknown };
  const stores = Array.isArray(input['backend']) ? input['backend'].filter((s): s is string => typeof s === 'string') : [];
  const imageId = input['image_id'];
  const method = request.method?.name;
  return {
    imageId: typeof imageId === 'string' ? imageId : (task.imageId ?? ''),
    method: typeof method === 'string' ? method : '',
    uri: typeof request.method?.uri === 'string' ? request.method.uri : null,
    stores,
    allStoresMustSucceed: request.all_stores_must_succeed !== false,
  };
}

/** The job runs for the image's owner, as the user who asked (no token: it may have expired). */
function contextOf(task: Task): RequestContext {
  return backgroundContext({ requestId: task.requestId ?? `task-${task.id}`, userId: task.userId, projectId: task.owner });
}

/**
 * The `api_image_import` job (reference §9.4) for glance-direct and web-download, written to be
 * resumed at any step by any node (README "Import"): each step's outcome is in the rows or the
 * staging area, never only in memory. The staged file is whole or absent; a store's copy counts
 * once its location row is written; the image stays `importing` until the last store activates
 * it. On failure the copies this import made are removed, staging is cleared, the image goes back
 * to `queued`, the lock is released and the reason is on the task and on the image.
 */
export class ImportJob {
  constructor(private readonly deps: ImportJobDeps) {}

  readonly run = async (task: Task, job: JobContext): Promise<void> => {
    const { tasks } = this.deps;
    if (task.status === 'pending' && !(await tasks.transition(task.id, 'pending', 'processing'))) return;
    const input = inputOf(task, this.deps.options.defaultStore);
    try {
      await this.#import(task, input, job);
    } catch (error) {
      // Stopping or losing the lease is not a failure: the job is resumed from the rows.
      if (job.signal.aborted) throw error;
      await this.#fail(task, input, error);
    }
    this.deps.vault.drop(task.id);
  };

  async #import(task: Task, input: ImportInput, job: JobContext): Promise<void> {
    const { repo, data, staging, tasks } = this.deps;
    let image = await this.#image(task, input);
    const copying = input.method === 'copy-image';
    if (copying && image.status !== 'active') throw new ImportFailure(`Image ${image.id} is ${image.status}; only active images can be copied.`);
    if (!copying && (image.status === 'uploading' || image.status === 'queued')) {
      // The request stopped between creating the task and moving the image on: do it now.
      await repo.transitionStatus(image.id, image.status, 'importing');
      await repo.setServerProperties(image.id, { [IMPORTING_TO_STORES]: joinStores(input.stores) }, [STAGE_HOST]);
      image = await this.#image(task, input);
    }
    if (!copying && image.status === 'active') {
      // Resumed after the last store activated it: only the bookkeeping was left to do.
      const held = new Set((await repo.listLocations(image.id)).map((l) => l.storeId));
      if (input.stores.every((store) => held.has(store))) {
        await this.#succeed(task, image);
        return;
      }
    }
    if (!copying && image.status !== 'importing') throw new ImportFailure(`Image ${image.id} is ${image.status}, not importing; the import cannot go on.`);

    const stagedSize = await staging.size(image.id);
    /** What to download when nothing is staged (web-download, glance-download). */
    let download: Download | null = null;
    if (copying) {
      // A copy reads the image's own data from the store that holds it, straight into the new
      // store: Glance copies it into staging first (reference §9.4 step 2), which writes every
      // byte twice for nothing. Staged data of a copy can only be an earlier job's leftover.
      if (stagedSize !== null) await staging.remove(image.id);
    } else if (stagedSize === null) {
      if (input.method === 'web-download' && input.uri !== null) {
        download = { url: input.uri, headers: {}, expected: null, method: 'web-download' };
      } else if (input.method === 'glance-download') {
        download = await this.#glanceDownload(task, image, job.signal);
        image = await this.#image(task, input);
      } else {
        throw new ImportFailure(`The staged data of image ${image.id} is missing.`);
      }
      // Plugins work on a file, so for them the download is staged first (as Glance always does).
      // Without plugins it goes straight into the first store and the other stores copy from
      // that one: the bytes are written once, not twice, and the download overlaps the hashing
      // and the store's writes (README "Import").
      if (this.deps.plugins.length > 0) {
        await this.#stageDownload(task, image, download, job.signal);
        download = null;
      }
    }

    if (download === null) await checkpoint('after-fetch', this.deps.log, job.signal);
    // Plugins change the data; a copy must stay the same bytes (reference §9.4 step 4).
    if (!copying && this.deps.plugins.length > 0) image = await this.#runPlugins(task, image, job.signal);

    const done = new Set((await repo.listLocations(image.id)).map((l) => l.storeId));
    const pending = input.stores.filter((s) => !done.has(s));
    const failed: string[] = [];
    // A download goes into the first store that takes it; once a store holds a copy, the others read that.
    let copied = done.size > 0;
    for (const [index, storeId] of pending.entries()) {
      const last = index === pending.length - 1;
      await tasks.mergeProgress(task.id, 'processing', { step: 'store', store: storeId }, `Importing to store ${storeId}`);
      try {
        // Resumed: the node before may have written this copy and stopped before recording it.
        if (job.resumed) await data.removeUnrecorded(image.id, storeId);
        // Active with the last store, or with each one when they need not all succeed (reference §9.4 step 5).
        const activate = (last || !input.allStoresMustSucceed) && image.status === 'importing';
        if (download !== null && !copied) await this.#downloadInto(task, image, storeId, download, activate, job.signal);
        else {
          // From another store (a copy, or a download that one store already took), else from staging.
          const fromStore = copying || download !== null;
          const source = fromStore ? this.#packed(await data.readStored(image.id)) : await staging.read(image.id);
          const total = fromStore ? image.size : ((await staging.size(image.id)) ?? 0);
          const report = this.#progressReporter(task, 'store', storeId, total);
          try {
            await data.storeImported(contextOf(task), image, source, storeId, { signal: job.signal, progress: report.add, activate });
          } finally {
            // The ingest reads its source without owning it; ended or not, it is closed here.
            source.destroy();
          }
          await report.done();
        }
        copied = true;
        if (index === 0 && !last) await checkpoint('after-store-1', this.deps.log, job.signal);
      } catch (error) {
        if (job.signal.aborted || input.allStoresMustSucceed) throw error;
        failed.push(storeId);
        this.deps.log.warn({ err: error, imageId: image.id, store: storeId }, 'import to one store failed; going on (all_stores_must_succeed=false)');
      }
      image = await this.#image(task, input);
      await repo.setServerProperties(image.id, {
        [IMPORTING_TO_STORES]: joinStores(storeList(image.properties[IMPORTING_TO_STORES]).filter((s) => s !== storeId)),
        ...(failed.includes(storeId) ? { [FAILED_IMPORT]: joinStores([...storeList(image.properties[FAILED_IMPORT]), storeId]) } : {}),
      });
    }
    await staging.remove(image.id);
    image = await this.#image(task, input);
    if (image.status !== 'active') throw new ImportFailure('None of the uploads finished!');
    if (copying && pending.length > 0 && failed.length === pending.length) throw new ImportFailure('None of the copies finished!');
    await checkpoint('before-success', this.deps.log, job.signal);
    await this.#succeed(task, image);
  }

  /** The end of an import that stored everything: staging cleared, lock released, task done. */
  async #succeed(task: Task, image: Image): Promise<void> {
    const { repo, staging, tasks } = this.deps;
    await staging.remove(image.id);
    await repo.setServerProperties(image.id, { [IMPORTING_TO_STORES]: '' }, [IMPORT_FAILURE]);
    await repo.swapProperty(image.id, IMPORT_LOCK, task.id, null);
    await tasks.transition(task.id, 'processing', 'success', { message: '', result: { image_id: image.id }, progress: null, expiresAt: this.#expiry() });
  }

  /**
   * The import plugins over the staged file (reference §9.4 step 4), resumable: their outcome is
   * written to the task's progress before the staged file is replaced and the image changed, so
   * a job resumed after that point applies the same outcome instead of running them again on
   * data they already changed.
   */
  async #runPlugins(task: Task, image: Image, signal: AbortSignal): Promise<Image> {
    const { tasks, staging, repo, plugins, options, log } = this.deps;
    const progress = (await tasks.findById(task.id))?.progress ?? {};
    let outcome = progress['plugins'] as PluginsOutcome | undefined;
    if (outcome === undefined) {
      const original = staging.path(image.id);
      let staged: StagedImage = {
        path: original,
        diskFormat: image.diskFormat ?? '',
        containerFormat: image.containerFormat ?? '',
        size: (await staging.size(image.id)) ?? 0,
      };
      let virtualSize: number | null = null;
      const properties: Record<string, string> = {};
      const produced: string[] = [];
      await mkdir(options.workDir, { recursive: true });
      const roles = Array.isArray(progress['roles']) ? progress['roles'].filter((r): r is string => typeof r === 'string') : [];
      for (const plugin of plugins) {
        await tasks.update(task.id, 'processing', { message: `Running import plugin ${plugin.name}` });
        let result;
        try {
          result = await plugin.run(staged, { image: { id: image.id, properties: image.properties }, roles, signal, workDir: options.workDir, log });
        } catch (error) {
          await Promise.all(produced.map((file) => rm(file, { force: true })));
          if (signal.aborted) throw error;
          throw new ImportFailure(`Import plugin ${plugin.name} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        }
        // An intermediate file is dropped as soon as the next plugin has made its own.
        if (result.staged.path !== staged.path && staged.path !== original) await rm(staged.path, { force: true });
        if (result.staged.path !== original) produced.push(result.staged.path);
        staged = result.staged;
        virtualSize = result.virtualSize ?? virtualSize;
        Object.assign(properties, result.properties);
      }
      outcome = {
        output: staged.path === original ? null : staged.path,
        diskFormat: staged.diskFormat,
        containerFormat: staged.containerFormat,
        size: staged.size,
        virtualSize,
        properties,
      };
      await tasks.mergeProgress(task.id, 'processing', { plugins: { ...outcome } });
      await checkpoint('after-plugins', log, signal);
    }
    if (outcome.output !== null && existsSync(outcome.output)) await staging.replaceWith(image.id, outcome.output);
    await repo.applyChanges(image.id, 'importing', {
      columns: {
        disk_format: outcome.diskFormat,
        container_format: outcome.containerFormat,
        size: outcome.size,
        ...(outcome.virtualSize === null ? {} : { virtual_size: outcome.virtualSize }),
      },
      setProperties: outcome.properties,
      removeProperties: [],
      tags: null,
    });
    return this.#image(task, { ...inputOf(task, options.defaultStore), imageId: image.id });
  }

  /**
   * The task says how far a copy got (into staging or into a store), every PROGRESS_MS while it
   * runs and at its end (Glance writes "Copied <n> MiB" every minute): bytes done and total, in
   * the message and in the progress the job keeps.
   */
  #progressReporter(
    task: Task,
    step: 'fetch' | 'store',
    storeId: string | null,
    total: number | null,
  ): { add: (bytes: number) => void; done: () => Promise<void> } {
    const { tasks, log } = this.deps;
    let bytes = 0;
    let last = Date.now();
    const mib = (n: number): string => (n / 1048576).toFixed(0);
    const of = total === null ? '' : ` of ${mib(total)}`;
    const write = (): Promise<void> =>
      tasks
        .mergeProgress(
          task.id,
          'processing',
          { step, store: storeId, bytes, total },
          step === 'fetch'
            ? `Downloaded ${mib(bytes)}${of} MiB${storeId === null ? '' : ` into store ${storeId}`}`
            : `Copied ${mib(bytes)}${of} MiB to store ${storeId ?? ''}`,
        )
        .then(
          () => undefined,
          (error: unknown) => log.warn({ err: error, taskId: task.id }, 'could not record import progress'),
        );
    return {
      add: (n) => {
        bytes += n;
        if (Date.now() - last >= PROGRESS_MS) {
          last = Date.now();
          void write();
        }
      },
      done: write,
    };
  }

  /**
   * Opens a download (web-download, glance-download's data) through the fetcher, which applies
   * `[import_filtering_opts]`; its refusals and failures name their rule and never show
   * credentials, and fail the task with that reason.
   */
  async #open(download: Download, signal: AbortSignal): Promise<Awaited<ReturnType<WebSource['open']>>> {
    const { web } = this.deps;
    if (web === null) throw new ImportFailure(`${download.method} is not available at this site.`);
    try {
      return await web.open(download.url, signal, { headers: download.headers });
    } catch (error) {
      throw this.#downloadFailure(download, error, signal);
    }
  }

  /** A download's failure as the task reports it. */
  #downloadFailure(download: Download, error: unknown, signal: AbortSignal): unknown {
    if (signal.aborted || !(error instanceof Error) || error instanceof DomainError || error instanceof ImportFailure) return error;
    return new ImportFailure(`${download.method} failed: ${error.message}`, { cause: error });
  }

  /** The size the download must have: its Content-Length, else what the remote image said (glance-download). */
  #checkSize(download: Download, fetched: { readonly url: string; readonly contentLength: number | null }, size: number): void {
    const expected = fetched.contentLength ?? download.expected;
    if (expected !== null && expected !== size) throw new ImportFailure(`The download from ${fetched.url} ended after ${size} of ${expected} bytes.`);
  }

  /**
   * Downloads straight into one store, through the same ingest as an upload (hashes, format
   * inspection, signature, size cap and quota): a Content-Length the body does not match, or a
   * size other than `expected`, fails it (reference §9.4 step 2), and nothing stays stored.
   */
  async #downloadInto(task: Task, image: Image, storeId: string, download: Download, activate: boolean, signal: AbortSignal): Promise<void> {
    const { data, tasks } = this.deps;
    await tasks.mergeProgress(task.id, 'processing', { step: 'fetch', store: storeId }, `Downloading into store ${storeId}`);
    const fetched = await this.#open(download, signal);
    // Counted as the bytes arrive, before they wait for a whole region.
    const report = this.#progressReporter(task, 'fetch', storeId, fetched.contentLength ?? download.expected);
    // The ingest reads the packed body without owning it: both are ended or destroyed here.
    const packed = this.#packed(fetched.body, counter(report.add));
    try {
      await data.storeImported(contextOf(task), image, packed, storeId, {
        signal,
        activate,
        verify: (written) => {
          this.#checkSize(download, fetched, written.size);
        },
      });
      await report.done();
    } catch (error) {
      throw this.#downloadFailure(download, error, signal);
    } finally {
      packed.destroy();
      fetched.body.destroy();
    }
  }

  /**
   * A stream of image bytes packed into the process's import regions, so that its memory counts
   * in the import budget and the hash threads and the O_DIRECT writer take it without copies.
   */
  #packed(source: Readable, through: Transform | null = null): Readable {
    const packed = new RegionPacker(this.deps.regions);
    if (through === null) pipeline(source, packed, () => undefined);
    else pipeline(source, through, packed, () => undefined);
    return packed;
  }

  /** Downloads into staging, for the import plugins to work on (reference §9.4 step 2). */
  async #stageDownload(task: Task, image: Image, download: Download, signal: AbortSignal): Promise<void> {
    const { staging, tasks } = this.deps;
    await tasks.mergeProgress(task.id, 'processing', { step: 'fetch' }, 'Downloading');
    const fetched = await this.#open(download, signal);
    // The body is ours: staging reads it without owning it, so a failure there must end it too.
    // Its errors reach staging's read; after that, a late one has nowhere else to go.
    const body = fetched.body;
    body.on('error', () => undefined);
    const report = this.#progressReporter(task, 'fetch', null, fetched.contentLength ?? download.expected);
    const counted = counter(report.add);
    pipeline(body, counted, () => undefined);
    let size: number;
    try {
      size = await staging.write(image.id, counted, this.deps.options.imageSizeCap, signal);
      await report.done();
    } catch (error) {
      counted.destroy();
      body.destroy();
      throw this.#downloadFailure(download, error, signal);
    }
    try {
      this.#checkSize(download, fetched, size);
    } catch (error) {
      await staging.remove(image.id);
      throw error;
    }
  }

  /**
   * glance-download (reference §9.4 step 2): the remote image's metadata with the user's token
   * (it must be active; its formats and the properties named by `[glance_download_properties]
   * extra_properties` are copied, never os_glance*); returns the download of its data, whose
   * byte count must be the remote size.
   */
  async #glanceDownload(task: Task, image: Image, signal: AbortSignal): Promise<Download> {
    const { web, vault, repo, options } = this.deps;
    const remote = task.progress?.['remote'] as { url?: unknown; imageId?: unknown } | undefined;
    if (typeof remote?.url !== 'string' || typeof remote.imageId !== 'string') throw new ImportFailure('The task does not say which remote image to download.');
    const token = vault.take(task.id);
    if (token === null) {
      throw new ImportFailure(
        "glance-download reads the remote image with the importing user's token, which only the node that accepted the request kept; that node stopped. Import again.",
      );
    }
    if (web === null) throw new ImportFailure('glance-download is not available at this site.');
    const headers = { 'x-auth-token': token, accept: 'application/json' };
    const base = `${remote.url.replace(/\/+$/, '')}/v2/images/${remote.imageId}`;
    let metadata: Record<string, unknown>;
    try {
      const answer = await web.open(base, signal, { headers });
      const chunks: Buffer[] = [];
      for await (const chunk of answer.body) chunks.push(chunk as Buffer);
      metadata = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch (error) {
      if (signal.aborted) throw error;
      throw new ImportFailure(`glance-download could not read the remote image ${remote.imageId}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    if (metadata['status'] !== 'active') throw new ImportFailure(`The remote image ${remote.imageId} is ${String(metadata['status'])}, not active.`);
    const properties: Record<string, string> = {};
    for (const [key, value] of Object.entries(metadata)) {
      if (BASE_ATTRIBUTES.has(key) || key.startsWith('os_glance') || typeof value !== 'string') continue;
      if (options.extraProperties.some((prefix) => key.startsWith(prefix))) properties[key] = value;
    }
    const diskFormat = typeof metadata['disk_format'] === 'string' ? metadata['disk_format'] : image.diskFormat;
    const containerFormat = typeof metadata['container_format'] === 'string' ? metadata['container_format'] : image.containerFormat;
    await repo.applyChanges(image.id, 'importing', {
      columns: { disk_format: diskFormat, container_format: containerFormat },
      setProperties: properties,
      removeProperties: [],
      tags: null,
    });
    const size = typeof metadata['size'] === 'number' ? metadata['size'] : null;
    return { url: `${base}/file`, headers, expected: size, method: 'glance-download' };
  }

  async #image(task: Task, input: ImportInput): Promise<Image> {
    const image = await this.deps.repo.findById(input.imageId);
    if (image === null) throw new ImportFailure('Image has been deleted, aborting import.');
    if (image.properties[IMPORT_LOCK] !== task.id) throw new ImportFailure(`Image ${input.imageId} is locked by another import; this one stops.`);
    return image;
  }

  /** The revert (reference §9.4): nothing this import stored stays, and everyone is told why. */
  async #fail(task: Task, input: ImportInput, error: unknown): Promise<void> {
    const { repo, data, staging, tasks, log } = this.deps;
    const reason = error instanceof ImportFailure || error instanceof DomainError ? error.message : 'Task failed due to Internal Error';
    if (!(error instanceof ImportFailure || error instanceof DomainError)) log.error({ err: error, taskId: task.id }, 'import failed');
    await staging.remove(input.imageId).catch((e: unknown) => log.error({ err: e, imageId: input.imageId }, 'could not clear staging'));
    // A plugins' outcome recorded but not yet staged is a file of this job's in the work dir.
    const output = ((await tasks.findById(task.id))?.progress?.['plugins'] as PluginsOutcome | undefined)?.output ?? null;
    if (output !== null) await rm(output, { force: true });
    const image = await repo.findById(input.imageId);
    if (image !== null && image.properties[IMPORT_LOCK] === task.id) {
      if (image.status === 'importing') {
        // An importing image has no data but this import's: every copy goes, and the image is as
        // before it (no data, queued).
        await data.purge(image.id);
        await repo.transitionStatus(image.id, 'importing', 'queued', {
          size: null,
          virtual_size: null,
          checksum: null,
          os_hash_algo: null,
          os_hash_value: null,
        });
      } else if (input.method === 'copy-image') {
        // The copies this job made go (none of its stores held the image before); the image
        // stays active with the copies it had (reference §9.4 revert).
        for (const location of await repo.listLocations(image.id)) {
          if (input.stores.includes(location.storeId)) await data.removeCopy(image.id, location.storeId, location.url);
        }
      }
      await repo.setServerProperties(
        image.id,
        {
          [IMPORTING_TO_STORES]: joinStores(storeList(image.properties[IMPORTING_TO_STORES]).filter((s) => !input.stores.includes(s))),
          [FAILED_IMPORT]: joinStores([...storeList(image.properties[FAILED_IMPORT]), ...input.stores]),
          [IMPORT_FAILURE]: `${new Date().toISOString()} ${reason}`.slice(0, 255),
        },
        [STAGE_HOST],
      );
      await repo.swapProperty(image.id, IMPORT_LOCK, task.id, null);
    }
    await tasks.transition(task.id, 'processing', 'failure', { message: reason, progress: null, expiresAt: this.#expiry() });
  }

  #expiry(): string {
    return new Date(Date.now() + this.deps.options.taskTimeToLiveHours * 3600_000).toISOString();
  }
}
