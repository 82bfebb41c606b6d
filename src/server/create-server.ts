import type { FastifyBaseLogger, FastifyInstance, FastifyPluginCallback } from 'fastify';
import type { Authenticator } from '../auth/authenticator.js';
import { ensureSchema, openDatabase, type Db } from '../db/database.js';
import type { PolicyCheck } from '../auth/policy-check.js';
import { ImageSchemaValidator, imageSchema, imagesSchema, memberSchema, membersSchema } from '../images/image-schema.js';
import { ImageService } from '../images/image-service.js';
import { MemberService } from '../images/member-service.js';
import type { DataRecovery } from '../maintenance/data-recovery.js';
import type { Scrubber } from '../maintenance/scrubber.js';
import { buildApp } from '../http/app.js';
import { NO_PORTS, openDataParts, type ServicePorts } from './data-parts.js';
import type { ApiModule, ModuleContext } from './api-module.js';
import { importModule, type ImportModule } from './modules/import-module.js';
import { InfoService } from '../info/info-service.js';
import type { ProtectionsHolder } from '../protections/protections-holder.js';
import type { JsonSchema } from '../images/image-schema.js';
import type { ServerSettings } from './server-settings.js';
import type { LocalFileSender } from '../transfer/local-file-sender.js';
import { dupSocket, nativeAddonUnavailable } from '../native/native-addon.js';
import { SocketBodyReader } from '../http/socket-body.js';
import type { RegionPool } from '../buffers/region-pool.js';

/** Upload bodies read from the socket when configured and the addon is built, into the process's data regions. */
function uploadReader(enabled: boolean, regions: RegionPool, log: FastifyBaseLogger): SocketBodyReader | null {
  if (!enabled) return null;
  if (dupSocket === null) {
    log.warn(`upload_socket_reads is on but ${nativeAddonUnavailable ?? 'unavailable'}; uploads are read through Node's HTTP parser`);
    return null;
  }
  return new SocketBodyReader(regions, dupSocket);
}

/** How requests are authenticated, and any routes the identity flavor serves itself. */
export interface IdentitySetup {
  readonly authenticator: Authenticator;
  readonly routes?: FastifyPluginCallback;
}

export interface ServerParts {
  readonly settings: ServerSettings;
  readonly logger: FastifyBaseLogger;
  readonly policy: PolicyCheck;
  /** Built once the database is open (the embedded identity keeps its tokens there). */
  readonly identity: (db: Db) => IdentitySetup | Promise<IdentitySetup>;
  /** Property protections (`property_protection_file`), or null when off (reference §6). */
  readonly protections?: ProtectionsHolder | null;
  /** Run the scrubber every wakeup_time in this process (one process of a cluster does). */
  readonly runScrubber?: boolean;
  /** Where services report events and metrics; nothing is reported by default. */
  readonly ports?: ServicePorts;
}

export interface Server {
  readonly app: FastifyInstance;
  readonly db: Db;
  readonly scrubber: Scrubber;
  readonly recovery: DataRecovery;
  /** How file-store downloads are sent (sendfile, O_DIRECT reads or streaming), with counts by path. */
  readonly files: LocalFileSender;
  /** How upload bodies are read (from the socket or by Node's parser), null when always by the parser. */
  readonly uploads: SocketBodyReader | null;
  /** Tasks and import: the job runner, for tests that wait for jobs. */
  readonly imports: ImportModule;
  close(): Promise<void>;
}

/**
 * The composition root: database → repositories → services → HTTP app. Every dependency is
 * passed in plain sight; nothing registers itself as a side effect.
 */
export async function createServer(parts: ServerParts): Promise<Server> {
  const { settings } = parts;
  const db = openDatabase(settings.database);
  await ensureSchema(db, settings.database);
  const schemaOptions = {
    diskFormats: settings.diskFormats,
    containerFormats: settings.containerFormats,
    allowAdditionalProperties: settings.allowAdditionalImageProperties,
  };
  const image = imageSchema(schemaOptions);
  const protections = parts.protections ?? null;
  const ports = parts.ports ?? NO_PORTS;
  const dataParts = await openDataParts(settings, db, parts.policy, parts.logger, ports);
  const { repo, access, stores, data, scrubber, recovery, signatures, secrets } = dataParts;
  const context: ModuleContext = {
    settings,
    db,
    policy: parts.policy,
    log: parts.logger,
    data: dataParts,
    ports,
    holder: `${settings.node.id}#${process.pid}`,
    // Bound late: the image service is built just below, and this runs only once jobs do.
    createImage: (ctx, body) => images.create(ctx, body),
  };
  // Each domain module is one line here: its routes, and its background work.
  const imports = importModule(context);
  const modules: readonly ApiModule[] = [imports];
  const images = new ImageService({
    repo,
    access,
    validator: new ImageSchemaValidator(image),
    quotas: { imagePropertyQuota: settings.imagePropertyQuota, imageTagQuota: settings.imageTagQuota },
    limits: { limitParamDefault: settings.limitParamDefault, apiLimitMax: settings.apiLimitMax },
    data,
    delayedDelete: settings.scrubber.delayedDelete,
    staged: imports.staged,
    protections,
    signatures,
    ...ports,
  });
  const members = new MemberService({ repo, access, memberQuota: settings.imageMemberQuota, events: ports.events });
  const identity = await parts.identity(db);
  const files = dataParts.sender.files;
  const uploads = uploadReader(settings.uploadSocketReads, dataParts.regions, parts.logger);
  const app = await buildApp({
    logger: parts.logger,
    publicEndpoint: settings.publicEndpoint,
    maxRequestIdLength: settings.maxRequestIdLength,
    allowAnonymous: settings.allowAnonymousAccess,
    healthcheckDisableFile: settings.healthcheckDisableFile,
    images,
    members,
    data,
    uploads,
    info: new InfoService(stores, parts.policy, protections),
    secrets,
    schemas: {
      // The served image schema names the protected properties (README "Property protections").
      get image(): JsonSchema {
        return protections === null ? image : { ...image, 'x-glimpse-property-protections': protections.rules.summary() };
      },
      images: imagesSchema(schemaOptions),
      member: memberSchema(),
      members: membersSchema(),
    },
    moduleRoutes: modules.map((m) => m.routes),
    importMethods: imports.imports.methods,
    authenticator: identity.authenticator,
    isAdmin: (credentials) => parts.policy.enforce('context_is_admin', {}, credentials),
    ...(identity.routes === undefined ? {} : { extraRoutes: identity.routes }),
  });
  // The node is live from here on: other nodes' recovery leaves its uploads alone.
  await dataParts.nodes.start((error) => parts.logger.error({ err: error }, 'node heartbeat failed'));
  if (parts.runScrubber === true) scrubber.start();
  for (const module of modules) module.start?.();
  return {
    app,
    db,
    scrubber,
    recovery,
    files,
    uploads,
    imports,
    async close() {
      dataParts.nodes.stop();
      await scrubber.stop();
      for (const module of modules) await module.stop?.();
      await app.close();
      identity.authenticator.close();
      await dataParts.close();
      await db.destroy();
    },
  };
}
