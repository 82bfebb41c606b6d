import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { contextOf } from '../authentication-hook.js';
import { UnsupportedMediaTypeError } from '../../errors/domain-errors.js';
import type { ImageDataService } from '../../images/image-data-service.js';
import { dropUnreadBody, rejectBody } from '../body.js';
import { replySink } from '../reply-sink.js';
import type { SocketBodyReader } from '../socket-body.js';
import { resource } from '../resource.js';

function imageId(request: FastifyRequest): string {
  return (request.params as { image_id: string }).image_id;
}

/**
 * `PUT|GET /v2/images/{id}/file` (reference §3) and `DELETE /v2/stores/{store}/{id}` (§8.3). Bodies here are streams: this plugin replaces
 * the JSON routes' buffering parser, so an image never sits in memory.
 */
export const imageDataRoutes: FastifyPluginCallback<{ data: ImageDataService; uploads: SocketBodyReader | null }> = (app, { data, uploads }, done) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, parsed) => {
    parsed(null, payload);
  });

  resource(app, '/images/:image_id/file', {
    PUT: async (request, reply) => {
      const contentType = request.headers['content-type'];
      const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
      if (mediaType !== 'application/octet-stream') throw new UnsupportedMediaTypeError(`Invalid content type ${contentType ?? 'None'}`);
      // A client that goes away mid-upload aborts the write, which removes what was stored.
      const controller = new AbortController();
      const length = request.headers['content-length'];
      const declaredSize = length === undefined ? null : Number(length);
      const direct = uploads === null ? null : uploads.open(request.raw, reply.raw, declaredSize, () => controller.abort());
      if (direct === null) {
        request.raw.once('close', () => {
          if (!request.raw.complete) controller.abort();
        });
      }
      const store = request.headers['x-image-meta-store'];
      try {
        await data.upload(contextOf(request), imageId(request), {
          body: direct ?? (request.body as Readable),
          signal: controller.signal,
          declaredSize,
          storeId: typeof store === 'string' && store !== '' ? store : null,
        });
      } finally {
        // Refused or failed before the end of the body: the rest is read and dropped, so the
        // client gets the answer (src/http/socket-body.ts).
        if (direct === null) dropUnreadBody(request.raw);
        else direct.destroy();
      }
      return reply.code(204).send();
    },
    GET: async (request, reply) => {
      rejectBody(request);
      const download = await data.download(contextOf(request), imageId(request), request.headers.range);
      if (download === null) return reply.code(204).send();
      void reply.type('application/octet-stream');
      if (download.checksum !== null) void reply.header('Content-MD5', download.checksum);
      const { range, size, length } = download;
      if (range !== null) void reply.header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
      void reply.header('Content-Length', length);
      await download.deliver(replySink(reply, range === null ? 200 : 206));
      return reply;
    },
  });
  resource(app, '/stores/:store_id/:image_id', {
    DELETE: async (request, reply) => {
      rejectBody(request);
      const { store_id: storeId, image_id: id } = request.params as { store_id: string; image_id: string };
      await data.removeFromStore(contextOf(request), storeId, id);
      return reply.code(204).send();
    },
  });
  done();
};
