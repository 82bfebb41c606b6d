import { request as httpRequest } from 'node:http';
import { after, before } from 'node:test';
import pino from 'pino';
import type { Authenticator } from '../../src/auth/authenticator.js';
import type { Db } from '../../src/db/database.js';
import { createServer, type Server } from '../../src/server/create-server.js';
import type { ServicePorts } from '../../src/server/data-parts.js';
import { buildPolicy, buildProtections, embeddedIdentity } from '../../src/server/wiring.js';
import { DEFAULT_URL_FILTER_SETTINGS } from '../../src/fetching/url-filter-settings.js';
import type { ImportSettings, ServerSettings } from '../../src/server/server-settings.js';

/** Settings a test changes; import settings may be given in part (the staging dir follows the data dir). */
export type TestOverrides = Partial<Omit<ServerSettings, 'imports'>> & { readonly imports?: Partial<ImportSettings> };
import { createTestDatabase, type Dialect, type TestDatabase } from './test-databases.js';

/**
 * A real Glimpse on a loopback port with a fresh database, and helpers to call it over HTTP as
 * the users below. Users log in through the embedded identity API exactly as the CLIs do.
 */
export const TEST_USERS = {
  admin: { password: 'admin-secret', project: 'admin', roles: ['admin', 'member', 'reader'] },
  demo: { password: 'demo-secret', project: 'demo', roles: ['member', 'reader'] },
  alt: { password: 'alt-secret', project: 'alt_demo', roles: ['member', 'reader'] },
  viewer: { password: 'viewer-secret', project: 'demo', roles: ['reader'] },
  /** A custom role, for property protections. */
  auditor: { password: 'auditor-secret', project: 'demo', roles: ['Auditor'] },
  /** A service user; its token is sent as X-Service-Token on behalf of others. */
  svc: { password: 'svc-secret', project: 'service', roles: ['service'] },
} as const;
export type TestUser = keyof typeof TEST_USERS;

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON (throws if it is not). */
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent verbatim instead of JSON-encoding `body`. */
  readonly rawBody?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface TestServer {
  readonly url: string;
  readonly db: Db;
  /** The database and data directory, for a second node to share. */
  readonly database: TestDatabase;
  readonly dialect: Dialect;
  /** This server's data directory (file store under `images/`). */
  readonly dataDir: string;
  /** The server's scrubber and recovery pass, to run them when a test says. */
  readonly scrubber: Server['scrubber'];
  readonly recovery: Server['recovery'];
  /** The download sender, whose counts say whether sendfile was used. */
  readonly files: Server['files'];
  readonly uploads: Server['uploads'];
  token(user: TestUser): Promise<string>;
  /** The project id the embedded identity gave the user. */
  project(user: TestUser): Promise<string>;
  request(user: TestUser | null, method: string, path: string, options?: RequestOptions): Promise<Reply>;
  /** Through node:http, for what fetch will not send (a GET with a body, no Accept header). */
  rawRequest(user: TestUser | null, method: string, path: string, headers: Readonly<Record<string, string>>, body?: string): Promise<Reply>;
  close(): Promise<void>;
}

export function testSettings(database: TestDatabase, overrides: TestOverrides = {}): ServerSettings {
  const { imports, ...rest } = overrides;
  return {
    database: database.config,
    dataDir: database.dataDir,
    publicEndpoint: null,
    limitParamDefault: 25,
    apiLimitMax: 1000,
    imageMemberQuota: 128,
    imagePropertyQuota: 128,
    imageTagQuota: 128,
    allowAdditionalImageProperties: true,
    maxRequestIdLength: 64,
    allowAnonymousAccess: false,
    healthcheckDisableFile: null,
    diskFormats: ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'],
    containerFormats: ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'],
    enforceNewDefaults: false,
    enforceScope: false,
    policyOverrides: {},
    imageSizeCap: 1099511627776,
    hashingAlgorithm: 'sha512',
    hashingThreads: 2,
    sendfileDownloads: true,
    uploadSocketReads: true,
    stores: {
      multiStore: false,
      defaultBackend: 'file',
      backends: [{ id: 'file', type: 'file', description: null, datadir: `${database.dataDir}/images`, filePerm: 0, durable: false, directIo: true }],
    },
    userStorageQuota: 0,
    keyManager: { backend: 'embedded', barbicanEndpoint: null, barbicanApiVersion: 'v1' },
    signatures: { partial: 'refuse', trustedCas: null },
    propertyProtection: { file: null, format: 'roles' },
    formatPolicy: { requireImageFormatMatch: true, vmdkAllowedTypes: ['streamOptimized', 'monolithicSparse'] },
    scrubber: { delayedDelete: false, scrubTimeSeconds: 0, poolSize: 1, wakeupSeconds: 300 },
    node: { id: `test-node-${database.dataDir}`, heartbeatSeconds: 10, deadAfterSeconds: 60 },
    imports: {
      methods: ['glance-direct', 'web-download', 'copy-image'],
      stagingDir: `${database.dataDir}/staging`,
      stagingDurable: true,
      selfUrl: null,
      maxWorkers: 4,
      taskTimeToLiveHours: 48,
      jobLeaseSeconds: 5,
      urlFilter: DEFAULT_URL_FILTER_SETTINGS,
      plugins: [],
      conversionFormat: 'raw',
      inject: { properties: {}, ignoreUserRoles: ['admin'] },
      workDir: `${database.dataDir}/import-work`,
      extraProperties: ['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type'],
      ...imports,
    },
    ...rest,
  };
}

export interface TestServerOptions {
  /** Lifetime of the embedded identity's tokens (default one hour). */
  readonly tokenExpirationSeconds?: number;
  /** Authenticate with this instead of the embedded identity (e.g. a real Keystone); the test users then cannot log in. */
  readonly authenticator?: Authenticator;
  /** Share another server's database and data directory (a second node); it is not dropped on close. */
  readonly database?: TestDatabase;
  /** Where the services report events and metrics. */
  readonly ports?: ServicePorts;
}

export async function startTestServer(dialect: Dialect, overrides: TestOverrides = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase(dialect));
  const settings = testSettings(database, overrides);
  const users = Object.entries(TEST_USERS).map(([name, u]) => ({
    name,
    password: { kind: 'plain' as const, value: u.password },
    project: u.project,
    roles: [...u.roles],
  }));
  const policy = buildPolicy(settings);
  const server: Server = await createServer({
    settings,
    logger: pino({ level: process.env['GLIMPSE_TEST_LOG'] ?? 'silent' }),
    policy,
    protections: buildProtections(settings, policy),
    ...(options.ports === undefined ? {} : { ports: options.ports }),
    identity: (db) =>
      options.authenticator === undefined
        ? embeddedIdentity({
            db,
            users,
            tokenExpirationSeconds: options.tokenExpirationSeconds ?? 3600,
            publicEndpoint: settings.publicEndpoint,
            keyManager: settings.keyManager.backend === 'embedded',
          })
        : { authenticator: options.authenticator },
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const address = server.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const url = `http://127.0.0.1:${address.port}`;
  const sessions = new Map<TestUser, { token: string; project: string }>();

  async function login(user: TestUser): Promise<{ token: string; project: string }> {
    const cached = sessions.get(user);
    if (cached !== undefined) return cached;
    const u = TEST_USERS[user];
    const response = await fetch(`${url}/identity/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password: u.password } } },
          scope: { project: { name: u.project, domain: { name: 'Default' } } },
        },
      }),
    });
    if (response.status !== 201) throw new Error(`login as ${user} failed: ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { token: { project: { id: string } } };
    const session = { token: response.headers.get('x-subject-token') ?? '', project: body.token.project.id };
    sessions.set(user, session);
    return session;
  }

  const testServer: TestServer = {
    url,
    db: server.db,
    database,
    dialect,
    dataDir: database.dataDir,
    scrubber: server.scrubber,
    files: server.files,
    uploads: server.uploads,
    recovery: server.recovery,
    token: async (user) => (await login(user)).token,
    project: async (user) => (await login(user)).project,
    async request(user, method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (user !== null) headers['x-auth-token'] = await testServer.token(user);
      let body: string | Buffer | undefined = options.rawBody;
      if (body === undefined && options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        text,
        json<T>() {
          return JSON.parse(text) as T;
        },
      };
    },
    async rawRequest(user, method, path, headers, body) {
      const allHeaders: Record<string, string> = { ...headers };
      if (user !== null) allHeaders['x-auth-token'] = await testServer.token(user);
      if (body !== undefined) allHeaders['content-length'] = String(Buffer.byteLength(body));
      return new Promise<Reply>((resolve, reject) => {
        const req = httpRequest(`${url}${path}`, { method, headers: allHeaders }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const replyHeaders = new Headers();
            for (const [key, value] of Object.entries(res.headers)) if (typeof value === 'string') replyHeaders.set(key, value);
            resolve({ status: res.statusCode ?? 0, headers: replyHeaders, text, json: <T>() => JSON.parse(text) as T });
          });
        });
        req.on('error', reject);
        req.end(body);
      });
    },
    async close() {
      await server.close();
      if (options.database === undefined) await database.drop();
    },
  };
  return testServer;
}

/** Starts a server before the enclosing suite and stops it after; read `.current` inside tests. */
export function useTestServer(dialect: Dialect, overrides: TestOverrides = {}, options: TestServerOptions = {}): { current: TestServer } {
  const holder = {} as { current: TestServer };
  before(async () => {
    holder.current = await startTestServer(dialect, overrides, options);
  });
  after(async () => {
    await holder.current.close();
  });
  return holder;
}
