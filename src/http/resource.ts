import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MethodNotAllowedError, NotFoundError } from '../errors/domain-errors.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * Registers a resource's handlers and, for every other method, Glance's catch-all 405 with an
 * `Allow` header (reference §1.6). HEAD is not routed as GET, as in Glance.
 */
export function resource(app: FastifyInstance, url: string, handlers: Partial<Record<Method, Handler>>): void {
  const allowed = Object.keys(handlers) as Method[];
  for (const method of allowed) {
    const handler = handlers[method];
    if (handler !== undefined) app.route({ method, url, preHandler: refuseNulParams, handler });
  }
  const others = ALL_METHODS.filter((m) => !allowed.includes(m as Method));
  app.route({
    method: others,
    url,
    handler: () => {
      throw new MethodNotAllowedError(allowed);
    },
  });
}

/**
 * No image, tag or member id can contain NUL (PostgreSQL text cannot even hold one), so a path
 * naming one names nothing: 404 before any query runs.
 */
async function refuseNulParams(request: FastifyRequest): Promise<void> {
  const params = request.params as Record<string, string> | undefined;
  if (params !== undefined && Object.values(params).some((value) => value.includes('\u0000'))) {
    throw new NotFoundError('The resource could not be found.');
  }
  return Promise.resolve();
}

/** Query parameters with repeats kept (`tag`, `sort_key` may repeat), from the raw URL. */
export function queryParams(request: FastifyRequest): Map<string, string[]> {
  const raw = request.raw.url ?? '';
  const start = raw.indexOf('?');
  const params = new Map<string, string[]>();
  if (start === -1) return params;
  for (const [key, value] of new URLSearchParams(raw.slice(start + 1))) {
    params.set(key, [...(params.get(key) ?? []), value]);
  }
  return params;
}
