import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidInputError } from '../../errors/domain-errors.js';
import type { SecretRow } from '../../keymanager/embedded/secret-repository.js';
import type { SecretService } from '../../keymanager/embedded/secret-service.js';
import { contextOf } from '../authentication-hook.js';
import { jsonBody, rejectBody } from '../body.js';
import { queryParams, resource } from '../resource.js';

function secretId(request: FastifyRequest): string {
  return (request.params as { secret_id: string }).secret_id;
}

function intParam(params: ReadonlyMap<string, readonly string[]>, name: string, fallback: number, max: number): number {
  const text = params.get(name)?.[0];
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text)) throw new InvalidInputError(`'${name}' must be a non-negative integer.`);
  return Math.min(Number(text), max);
}

/** Barbican's secret metadata document (what `openstack secret get` prints). */
function secretView(row: SecretRow, ref: string): Record<string, unknown> {
  return {
    secret_ref: ref,
    name: row.name,
    status: 'ACTIVE',
    secret_type: row.secret_type,
    algorithm: row.algorithm,
    bit_length: row.bit_length,
    mode: row.mode,
    expiration: row.expiration,
    content_types: { default: row.content_type },
    creator_id: row.creator_id,
    created: row.created_at.replace(/Z$/, ''),
    updated: row.updated_at.replace(/Z$/, ''),
  };
}

/**
 * `/key-manager/v1/secrets…`: the Barbican secrets API subset of the embedded key manager
 * (README "Key manager"). Mounted under /key-manager, behind the same authentication as /v2.
 */
export const secretRoutes: FastifyPluginCallback<{ secrets: SecretService; baseUrl: (request: FastifyRequest) => string }> = (
  app,
  { secrets, baseUrl },
  done,
) => {
  const ref = (request: FastifyRequest, id: string): string => `${baseUrl(request)}/key-manager/v1/secrets/${id}`;

  // barbicanclient posts to `secrets/` (trailing slash), other clients to `secrets`.
  const collection = {
    GET: async (request: FastifyRequest) => {
      rejectBody(request);
      const params = queryParams(request);
      const limit = intParam(params, 'limit', 10, 100);
      const offset = intParam(params, 'offset', 0, 1_000_000_000);
      const { rows, total } = await secrets.list(contextOf(request), {
        limit,
        offset,
        name: params.get('name')?.[0] ?? null,
        secretType: params.get('secret_type')?.[0] ?? null,
      });
      const page = (at: number): string => `${baseUrl(request)}/key-manager/v1/secrets?limit=${limit}&offset=${at}`;
      return {
        secrets: rows.map((row) => secretView(row, ref(request, row.id))),
        total,
        ...(offset + limit < total ? { next: page(offset + limit) } : {}),
        ...(offset > 0 ? { previous: page(Math.max(0, offset - limit)) } : {}),
      };
    },
    POST: async (request: FastifyRequest, reply: FastifyReply) => {
      const stored = await secrets.store(contextOf(request), jsonBody(request));
      const url = ref(request, stored.id);
      void reply.code(201).header('Location', url);
      return { secret_ref: url };
    },
  };
  resource(app, '/v1/secrets', collection);
  resource(app, '/v1/secrets/', collection);

  resource(app, '/v1/secrets/:secret_id', {
    GET: async (request) => {
      rejectBody(request);
      const id = secretId(request);
      return secretView(await secrets.get(contextOf(request), id), ref(request, id));
    },
    DELETE: async (request, reply) => {
      await secrets.delete(contextOf(request), secretId(request));
      return reply.code(204).send();
    },
  });

  resource(app, '/v1/secrets/:secret_id/payload', {
    GET: async (request, reply) => {
      rejectBody(request);
      const payload = await secrets.payload(contextOf(request), secretId(request), request.headers.accept);
      void reply.type(payload.contentType);
      return payload.contentType === 'text/plain' ? payload.bytes.toString('utf8') : payload.bytes;
    },
  });
  done();
};

/** Version discovery, which keystoneauth does before the first call (Barbican's documents). */
export const keyManagerVersionRoutes: FastifyPluginCallback<{ baseUrl: (request: FastifyRequest) => string }> = (app, { baseUrl }, done) => {
  const version = (request: FastifyRequest): Record<string, unknown> => ({
    id: 'v1',
    status: 'stable',
    updated: '2015-04-28T00:00:00Z',
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.key-manager-v1+json' }],
    links: [{ rel: 'self', href: `${baseUrl(request)}/key-manager/v1/` }],
  });
  for (const url of ['/']) {
    app.get(url, async (request, reply) => {
      void reply.code(300);
      return Promise.resolve({ versions: { values: [version(request)] } });
    });
  }
  for (const url of ['/v1', '/v1/']) {
    app.get(url, async (request) => Promise.resolve({ version: version(request) }));
  }
  done();
};
