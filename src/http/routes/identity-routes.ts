import { randomBytes } from 'node:crypto';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { ProjectIdentity } from '../../auth/request-context.js';
import { DEFAULT_DOMAIN, projectId, stableId, userId, type EmbeddedUser } from '../../identity/embedded/embedded-users.js';
import type { TokenStore } from '../../identity/embedded/token-store.js';
import { verifyPassword } from '../../identity/password-hash.js';

/**
 * The part of the Keystone v3 API that clients need to log in (keystoneauth's discovery, password
 * and token authentication, token validation, project look-up), served under /identity/v3 so
 * `openstack --os-auth-url http://host:9292/identity/v3 …` works with no other service.
 * Errors use Keystone's JSON shape, not Glance's, because keystoneauth parses them.
 */

export interface IdentityRoutesOptions {
  readonly users: readonly EmbeddedUser[];
  readonly tokens: TokenStore;
  readonly baseUrl: (request: FastifyRequest) => string;
  /** List the embedded key manager (/key-manager) in the catalog, for `openstack secret …`. */
  readonly keyManager: boolean;
}

class KeystoneError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

const unauthorized = (): KeystoneError => new KeystoneError(401, 'Unauthorized', 'The request you have made requires authentication.');
const badRequest = (message: string): KeystoneError => new KeystoneError(400, 'Bad Request', message);
const notFound = (message: string): KeystoneError => new KeystoneError(404, 'Not Found', message);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function keystoneTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseBody(request: FastifyRequest): Json {
  const raw = request.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw badRequest('Expecting to find auth in request body.');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw badRequest('Malformed request body.');
  }
  if (!isObject(value) || !isObject(value['auth'])) throw badRequest('Expecting to find auth in request body.');
  return value['auth'];
}

function domainMatches(domain: unknown): boolean {
  if (domain === undefined) return true;
  if (!isObject(domain)) return false;
  return domain['id'] === DEFAULT_DOMAIN.id || domain['name'] === DEFAULT_DOMAIN.name;
}

export const identityRoutes: FastifyPluginCallback<IdentityRoutesOptions> = (app, { users, tokens, baseUrl, keyManager }, done) => {
  const byName = new Map(users.map((u) => [u.name, u]));
  const byId = new Map(users.map((u) => [userId(u.name), u]));
  const projectsById = new Map(users.map((u) => [projectId(u.project), u.project]));

  function identityOf(user: EmbeddedUser): Omit<ProjectIdentity, 'expiresAt'> {
    return {
      userId: userId(user.name),
      userName: user.name,
      userDomainId: DEFAULT_DOMAIN.id,
      scope: { kind: 'project', projectId: projectId(user.project), projectName: user.project, projectDomainId: DEFAULT_DOMAIN.id },
      roles: user.roles,
      isAdminProject: true,
      catalog: [],
    };
  }

  function catalog(request: FastifyRequest): Json[] {
    const base = baseUrl(request);
    const endpoints = (service: string, url: string): Json[] =>
      (['public', 'internal', 'admin'] as const).map((iface) => ({
        id: stableId('role', `${service}-${iface}`),
        interface: iface,
        region: 'RegionOne',
        region_id: 'RegionOne',
        url,
      }));
    return [
      { id: stableId('role', 'service-image'), type: 'image', name: 'glance', endpoints: endpoints('image', base) },
      { id: stableId('role', 'service-identity'), type: 'identity', name: 'keystone', endpoints: endpoints('identity', `${base}/identity`) },
      ...(keyManager
        ? [{ id: stableId('role', 'service-key-manager'), type: 'key-manager', name: 'barbican', endpoints: endpoints('key-manager', `${base}/key-manager`) }]
        : []),
    ];
  }

  function tokenBody(request: FastifyRequest, identity: ProjectIdentity, issuedAt: Date, methods: readonly string[]): Json {
    return {
      token: {
        methods,
        user: { id: identity.userId, name: identity.userName, domain: { ...DEFAULT_DOMAIN }, password_expires_at: null },
        project: { id: identity.scope.projectId, name: identity.scope.projectName, domain: { ...DEFAULT_DOMAIN } },
        roles: identity.roles.map((name) => ({ id: stableId('role', name), name })),
        is_domain: false,
        issued_at: keystoneTime(issuedAt),
        expires_at: keystoneTime(identity.expiresAt),
        audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
        catalog: catalog(request),
      },
    };
  }

  /** The user's only project; a scope naming any other project is refused. */
  function checkScope(auth: Json, user: EmbeddedUser): void {
    const scope = auth['scope'];
    if (scope === undefined || scope === 'unscoped') return;
    if (!isObject(scope)) throw badRequest('Invalid scope.');
    const project = scope['project'];
    if (!isObject(project)) throw unauthorized();
    const matches = project['id'] === projectId(user.project) || (project['name'] === user.project && domainMatches(project['domain']));
    if (!matches) throw unauthorized();
  }

  async function userFromPassword(identity: Json): Promise<EmbeddedUser> {
    const password = identity['password'];
    if (!isObject(password) || !isObject(password['user'])) throw badRequest('Expecting to find password in identity.');
    const claimed = password['user'];
    const user =
      typeof claimed['id'] === 'string'
        ? byId.get(claimed['id'])
        : typeof claimed['name'] === 'string' && domainMatches(claimed['domain'])
          ? byName.get(claimed['name'])
          : undefined;
    const secret = claimed['password'];
    // Unknown users still pay for a comparison, so timing does not reveal which names exist.
    const ok = await verifyPassword(user?.password ?? { kind: 'plain', value: randomBytes(16).toString('hex') }, typeof secret === 'string' ? secret : '');
    if (user === undefined || !ok) throw unauthorized();
    return user;
  }

  async function tokenFromHeader(request: FastifyRequest, name: string): Promise<ProjectIdentity | null> {
    const token = header(request, name);
    return token === undefined || token === '' ? null : tokens.validate(token);
  }

  function send(reply: FastifyReply, error: unknown): FastifyReply {
    if (error instanceof KeystoneError) {
      if (error.status === 401) void reply.header('WWW-Authenticate', `Keystone uri="${baseUrlOf(reply.request)}/identity/v3"`);
      return reply
        .code(error.status)
        .type('application/json')
        .send({ error: { code: error.status, title: error.title, message: error.message } });
    }
    throw error;
  }
  const baseUrlOf = (request: FastifyRequest): string => baseUrl(request);

  /** Runs a handler, answering KeystoneErrors in Keystone's shape. */
  const handle =
    (fn: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      try {
        return await fn(request, reply);
      } catch (error) {
        return send(reply, error);
      }
    };

  function versionEntry(request: FastifyRequest): Json {
    return {
      id: 'v3.14',
      status: 'stable',
      updated: '2020-04-07T00:00:00Z',
      links: [{ rel: 'self', href: `${baseUrl(request)}/identity/v3/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
    };
  }

  for (const url of ['/identity', '/identity/']) {
    app.get(url, async (request, reply) => reply.code(300).send({ versions: { values: [versionEntry(request)] } }));
  }
  for (const url of ['/identity/v3', '/identity/v3/']) {
    app.get(url, async (request) => Promise.resolve({ version: versionEntry(request) }));
  }

  app.post(
    '/identity/v3/auth/tokens',
    handle(async (request, reply) => {
      const auth = parseBody(request);
      const identity = auth['identity'];
      if (!isObject(identity) || !Array.isArray(identity['methods'])) throw badRequest('Expecting to find identity in auth.');
      const methods = identity['methods'] as unknown[];
      let user: EmbeddedUser | undefined;
      let limit: Date | undefined;
      if (methods.includes('password')) {
        user = await userFromPassword(identity);
      } else if (methods.includes('token')) {
        const token = identity['token'];
        const existing = isObject(token) && typeof token['id'] === 'string' ? await tokens.validate(token['id']) : null;
        if (existing === null) throw unauthorized();
        user = byId.get(existing.userId);
        limit = existing.expiresAt;
      } else {
        throw unauthorized();
      }
      if (user === undefined) throw unauthorized();
      checkScope(auth, user);
      const issued = await tokens.issue(identityOf(user), limit);
      return reply
        .code(201)
        .header('X-Subject-Token', issued.token)
        .send(
          tokenBody(
            request,
            issued.identity,
            issued.issuedAt,
            methods.filter((m): m is string => typeof m === 'string'),
          ),
        );
    }),
  );

  async function validateSubject(request: FastifyRequest): Promise<{ identity: ProjectIdentity; issuedAt: Date }> {
    if ((await tokenFromHeader(request, 'x-auth-token')) === null) throw unauthorized();
    const subject = header(request, 'x-subject-token') ?? '';
    const identity = subject === '' ? null : await tokens.validate(subject);
    if (identity === null) throw notFound('Could not find token.');
    return { identity, issuedAt: (await tokens.issuedAt(subject)) ?? new Date() };
  }

  app.get(
    '/identity/v3/auth/tokens',
    handle(async (request, reply) => {
      const { identity, issuedAt } = await validateSubject(request);
      return reply.header('X-Subject-Token', header(request, 'x-subject-token') ?? '').send(tokenBody(request, identity, issuedAt, ['password']));
    }),
  );

  app.head('/identity/v3/auth/tokens', async (request, reply) => {
    let status = 200;
    try {
      await validateSubject(request);
    } catch (error) {
      if (!(error instanceof KeystoneError)) throw error;
      status = error.status;
    }
    return reply.code(status).send();
  });

  app.delete(
    '/identity/v3/auth/tokens',
    handle(async (request, reply) => {
      if ((await tokenFromHeader(request, 'x-auth-token')) === null) throw unauthorized();
      if (!(await tokens.revoke(header(request, 'x-subject-token') ?? ''))) throw notFound('Could not find token.');
      return reply.code(204).send();
    }),
  );

  function projectBody(request: FastifyRequest, name: string): Json {
    const id = projectId(name);
    return {
      id,
      name,
      domain_id: DEFAULT_DOMAIN.id,
      enabled: true,
      is_domain: false,
      parent_id: DEFAULT_DOMAIN.id,
      description: '',
      tags: [],
      links: { self: `${baseUrl(request)}/identity/v3/projects/${id}` },
    };
  }

  // Project look-ups, which the CLIs use to turn `--project NAME` into an id (e.g. image sharing).
  app.get(
    '/identity/v3/projects/:project',
    handle(async (request) => {
      if ((await tokenFromHeader(request, 'x-auth-token')) === null) throw unauthorized();
      const wanted = (request.params as { project: string }).project;
      const name = projectsById.get(wanted) ?? ([...projectsById.values()].includes(wanted) ? wanted : undefined);
      if (name === undefined) throw notFound(`Could not find project: ${wanted}.`);
      return { project: projectBody(request, name) };
    }),
  );

  app.get(
    '/identity/v3/projects',
    handle(async (request) => {
      if ((await tokenFromHeader(request, 'x-auth-token')) === null) throw unauthorized();
      const wanted = (request.query as { name?: string }).name;
      const names = [...new Set(projectsById.values())].filter((n) => wanted === undefined || n === wanted);
      return { projects: names.map((n) => projectBody(request, n)), links: { self: `${baseUrl(request)}/identity/v3/projects`, next: null, previous: null } };
    }),
  );

  app.get(
    '/identity/v3/auth/projects',
    handle(async (request) => {
      const identity = await tokenFromHeader(request, 'x-auth-token');
      if (identity === null) throw unauthorized();
      return {
        projects: [projectBody(request, identity.scope.projectName)],
        links: { self: `${baseUrl(request)}/identity/v3/auth/projects`, next: null, previous: null },
      };
    }),
  );

  done();
};
