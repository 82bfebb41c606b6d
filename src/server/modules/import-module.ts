import type { FastifyPluginCallback } from 'fastify';
import { LeaseStore } from '../../coordination/lease-store.js';
import { SafeFetcher } from '../../fetching/safe-fetch.js';
import { importRoutes } from '../../http/routes/import-routes.js';
import { taskRoutes } from '../../http/routes/task-routes.js';
import { ImportJob } from '../../imports/import-job.js';
import { LegacyImportJob } from '../../imports/legacy-import-job.js';
import { requestBaseUrl } from '../../http/app.js';
import { buildPlugins } from '../../imports/plugins/plugin-table.js';
import { DEFAULT_QEMU_IMG_SETTINGS } from '../../imports/plugins/qemu-img.js';
import { ImportService } from '../../imports/import-service.js';
import { StageHostForwarder } from '../../imports/stage-host-forwarder.js';
import { TokenVault } from '../../imports/token-vault.js';
import type { StagingArea } from '../../imports/staging-area.js';
import { TaskRepository } from '../../tasks/task-repository.js';
import { TaskRunner } from '../../tasks/task-runner.js';
import { TaskService } from '../../tasks/task-service.js';
import type { ApiModule, ModuleContext } from '../api-module.js';

/** Seconds web-download waits to connect, and for the next bytes of a stalled source. */
const FETCH_CONNECT_MS = 30_000;
const FETCH_STALL_MS = 120_000;

export interface ImportModule extends ApiModule {
  readonly imports: ImportService;
  readonly runner: TaskRunner;
  readonly staging: StagingArea;
  /** What image delete needs of imports: staged data to remove, or a stage host to forward to. */
  readonly staged: { remove(imageId: string): Promise<void>; forwardDelete: ImportService['forwardDelete'] };
}

/** Tasks and interoperable import (reference §9, §10; README "Import"). */
export function importModule(context: ModuleContext): ImportModule {
  const { settings, db, policy, log, data } = context;
  const config = settings.imports;
  const tasks = new TaskRepository(db);
  const staging = data.staging;
  const web = new SafeFetcher({
    settings: config.urlFilter,
    connectTimeoutMs: FETCH_CONNECT_MS,
    stallTimeoutMs: FETCH_STALL_MS,
    maxBytes: settings.imageSizeCap,
  });
  const vault = new TokenVault();
  const job = new ImportJob({
    repo: data.repo,
    data: data.data,
    tasks,
    staging,
    web,
    regions: data.importRegions,
    plugins: buildPlugins(config.plugins, {
      imageConversion: {
        outputFormat: config.conversionFormat,
        vmdkAllowedTypes: settings.formatPolicy.vmdkAllowedTypes,
        maxBytes: settings.imageSizeCap,
        qemuImg: DEFAULT_QEMU_IMG_SETTINGS,
      },
      imageDecompression: { maxBytes: settings.imageSizeCap },
      injectImageMetadata: { inject: config.inject.properties, ignoreUserRoles: config.inject.ignoreUserRoles },
    }),
    options: {
      imageSizeCap: settings.imageSizeCap,
      taskTimeToLiveHours: config.taskTimeToLiveHours,
      workDir: config.workDir,
      extraProperties: config.extraProperties,
      defaultStore: data.stores.defaultStore.id,
    },
    vault,
    log,
  });
  const legacy = new LegacyImportJob({
    tasks,
    repo: data.repo,
    createImage: context.createImage,
    importJob: job.run,
    defaultStore: data.stores.defaultStore.id,
    taskTimeToLiveHours: config.taskTimeToLiveHours,
    log,
  });
  const runner = new TaskRunner({
    tasks,
    leases: new LeaseStore(db),
    holder: context.holder,
    handlers: { api_image_import: job.run, import: legacy.run },
    maxWorkers: config.maxWorkers,
    leaseMs: config.jobLeaseSeconds * 1000,
    pollMs: Math.max(1000, (config.jobLeaseSeconds * 1000) / 2),
    log,
  });
  const imports = new ImportService({
    repo: data.repo,
    access: data.access,
    stores: data.stores,
    tasks,
    staging,
    wake: () => runner.kick(),
    forwarder: new StageHostForwarder(),
    vault,
    options: { methods: config.methods, imageSizeCap: settings.imageSizeCap, selfUrl: config.selfUrl, nodeId: settings.node.id, urlFilter: config.urlFilter },
  });
  const taskService = new TaskService(tasks, policy, { limitParamDefault: settings.limitParamDefault, apiLimitMax: settings.apiLimitMax }, () => runner.kick());
  const routes: FastifyPluginCallback = (app, _options, done) => {
    void app.register(importRoutes, { imports });
    void app.register(taskRoutes, { tasks: taskService, access: data.access, baseUrl: (request) => requestBaseUrl(request, settings.publicEndpoint) });
    done();
  };
  return {
    name: 'import',
    routes,
    imports,
    runner,
    staging,
    staged: { remove: (imageId) => staging.remove(imageId), forwardDelete: (ctx, image) => imports.forwardDelete(ctx, image) },
    start: () => runner.start(),
    stop: () => runner.stop(),
  };
}
