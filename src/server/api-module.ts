import type { FastifyPluginCallback } from 'fastify';
import type { PolicyCheck } from '../auth/policy-check.js';
import type { Db } from '../db/database.js';
import type { RequestContext } from '../auth/request-context.js';
import type { Image } from '../images/image-types.js';
import type { Logger } from '../ports/logger.js';
import type { DataParts, ServicePorts } from './data-parts.js';
import type { ServerSettings } from './server-settings.js';

/** What a domain module is built from: the settings and the parts every domain shares. */
export interface ModuleContext {
  readonly settings: ServerSettings;
  readonly db: Db;
  readonly policy: PolicyCheck;
  readonly log: Logger;
  readonly data: DataParts;
  readonly ports: ServicePorts;
  /** `<node id>#<pid>`: this process as a holder of database leases. */
  readonly holder: string;
  /** Image create as the API does it, for work that makes images (legacy import tasks). */
  readonly createImage: (context: RequestContext, body: unknown) => Promise<Image>;
}

/**
 * A domain the composition root plugs in with one line (src/server/create-server.ts): its routes
 * under /v2, and background work that starts once the node is live and stops before the
 * database closes. Tasks and import are one; metadefs and the cache will be others.
 */
export interface ApiModule {
  readonly name: string;
  readonly routes: FastifyPluginCallback;
  start?(): void;
  stop?(): Promise<void>;
}
