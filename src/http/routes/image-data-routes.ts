import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { contextOf } from '../../auth/authentication-hook.js';
import { UnsupportedMediaTypeError } from '../../errors/domain-errors.js';
import type { ImageDataService } from '../../images/image-data-service.js';
import { rejectBody } from '../body.js';
import { resource } from '../resource.js';

function imageId(request: FastifyRequest): string {
  return (request.params as { image_id: string }).image_id;
}

/**
 * `PUT|GET /v2/images/{id}/file` (reference §3). Bodies here are streams: this plugin replaces
 * the JSON routes' buffering parser, so an image never sits in memory.
 */
export const imageDataRoutes: FastifyPluginCallback<{ data: ImageDataService }> = (app, { data }, done) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, parsed) => {
    parsed(null, payload);
  });

  resource(app, '/images/:image_id/file', {
    PUT: async (request, reply) => {
      const contentType = request.headers['content-type'];
      const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
      if (mediaType !== 'application/octet-stream') throw new UnsupportedMediaTypeError(`Invalid content type ${contentType ?? 'None'}`);
      const body = request.body as Readable;
      const controller = new AbortController();
      // A client that goes away mid-upload aborts the write, which removes what was stored.
      request.raw.once('close', () => {
        if (!request.raw.complete) controller.abort();
      });
      const length = request.headers['content-length'];
      const store = request.headers['x-image-meta-store'];
      await data.upload(contextOf(request), imageId(request), {
        body,
        signal: controller.signal,
        declaredSize: length === undefined ? null : Number(length),
        storeId: typeof store === 'string' && store !== '' ? store : null,
      });
      return reply.code(204).send();
    },
    GET: async (request, reply) => {
      rejectBody(request);
      const range = request.headers.range;
      const download = await data.download(contextOf(request), imageId(request), range);
      if (download === null) return reply.code(204).send();
      void reply.type('application/octet-stream');
      if (download.checksum !== null) void reply.header('Content-MD5', download.checksum);
      if (download.range === null) {
        void reply.header('Content-Length', download.size);
        return reply.code(200).send(download.stream);
      }
      const { start, end } = download.range;
      void reply.header('Content-Range', `bytes ${start}-${end}/${download.size}`).header('Content-Length', end - start + 1);
      return reply.code(206).send(download.stream);
    },
  });
  done();
};
