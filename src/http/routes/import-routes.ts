import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { contextOf } from '../authentication-hook.js';
import { UnsupportedMediaTypeError } from '../../errors/domain-errors.js';
import type { ImportService } from '../../imports/import-service.js';
import { dropUnreadBody, jsonBody, rejectBody } from '../body.js';
import { resource } from '../resource.js';

function imageId(request: FastifyRequest): string {
  return (request.params as { image_id: string }).image_id;
}

/**
 * Interoperable import (reference §9): discovery, stage, import. Stage bodies are streams, so
 * this plugin reads `/stage` bodies raw; `/import` bodies are JSON like every other route's.
 */
export const importRoutes: FastifyPluginCallback<{ imports: ImportService }> = (app, { imports }, done) => {
  resource(app, '/info/import', {
    GET: async (request) => {
      rejectBody(request);
      return Promise.resolve({ 'import-methods': { description: 'Import methods available.', type: 'array', value: imports.methods } });
    },
  });

  resource(app, '/images/:image_id/import', {
    POST: async (request, reply) => {
      const store = request.headers['x-image-meta-store'];
      const forwarded = await imports.import(contextOf(request), imageId(request), jsonBody(request), typeof store === 'string' && store !== '' ? store : null);
      // Replayed to the stage host: its request id is the one to quote (reference §9.6).
      if (forwarded?.requestId != null) void reply.header('x-openstack-request-id', forwarded.requestId);
      return reply.code(forwarded?.status ?? 202).send();
    },
  });

  void app.register((staging, _options, registered) => {
    staging.removeAllContentTypeParsers();
    staging.addContentTypeParser('*', (_request, payload, parsed) => {
      parsed(null, payload);
    });
    resource(staging, '/images/:image_id/stage', {
      PUT: async (request, reply) => {
        const contentType = request.headers['content-type'];
        const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
        if (mediaType !== 'application/octet-stream') throw new UnsupportedMediaTypeError(`Invalid content type ${contentType ?? 'None'}`);
        // A client that goes away mid-stage aborts the write, which removes what was staged.
        const controller = new AbortController();
        request.raw.once('close', () => {
          if (!request.raw.complete) controller.abort();
        });
        try {
          await imports.stage(contextOf(request), imageId(request), { body: request.body as Readable, signal: controller.signal });
        } finally {
          dropUnreadBody(request.raw);
        }
        return reply.code(204).send();
      },
    });
    registered();
  });
  done();
};
