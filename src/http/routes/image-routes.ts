import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { contextOf } from '../authentication-hook.js';
import type { ImageService } from '../../images/image-service.js';
import { parsePatch, patchStyleFor } from '../../images/image-patch.js';
import { imageView } from '../../images/image-view.js';
import { jsonBody, rejectBody } from '../body.js';
import { queryParams, resource } from '../resource.js';

interface ImageParams {
  image_id: string;
}
interface TagParams extends ImageParams {
  tag: string;
}

function imageId(request: FastifyRequest): string {
  return (request.params as ImageParams).image_id;
}

/** `first`/`next` links: the caller's own query, minus or plus the marker (reference §2.4). */
function pageLink(params: ReadonlyMap<string, readonly string[]>, marker: string | null): string {
  const search = new URLSearchParams();
  for (const [key, values] of params) {
    if (key === 'marker') continue;
    for (const value of values) search.append(key, value);
  }
  if (marker !== null) search.append('marker', marker);
  const query = search.toString();
  return query === '' ? '/v2/images' : `/v2/images?${query}`;
}

export const imageRoutes: FastifyPluginCallback<{
  images: ImageService;
  baseUrl: (request: FastifyRequest) => string;
  storeIds: readonly string[] | null;
  importMethods: readonly string[];
}> = (app, { images, baseUrl, storeIds, importMethods }, done) => {
  resource(app, '/images', {
    GET: async (request) => {
      rejectBody(request);
      const params = queryParams(request);
      const page = await images.list(contextOf(request), params);
      const last = page.images[page.images.length - 1];
      return {
        images: page.images.map(imageView),
        first: pageLink(params, null),
        schema: '/v2/schemas/images',
        ...(page.hasNext && last !== undefined ? { next: pageLink(params, last.id) } : {}),
      };
    },
    POST: async (request, reply) => {
      const image = await images.create(contextOf(request), jsonBody(request));
      void reply.code(201).header('Location', `${baseUrl(request)}/v2/images/${image.id}`);
      // How the data may come in (reference §9.1), and, multi-store only, where it may go (§2.2).
      if (importMethods.length > 0) void reply.header('OpenStack-image-import-methods', importMethods.join(','));
      if (storeIds !== null) void reply.header('OpenStack-image-store-ids', storeIds.join(','));
      return imageView(image);
    },
  });

  resource(app, '/images/:image_id', {
    GET: async (request) => {
      rejectBody(request);
      return imageView(await images.get(contextOf(request), imageId(request)));
    },
    PATCH: async (request) => {
      const style = patchStyleFor(request.headers['content-type']);
      const operations = parsePatch(jsonBody(request), style);
      return imageView(await images.update(contextOf(request), imageId(request), style, operations));
    },
    DELETE: async (request, reply) => {
      rejectBody(request);
      await images.delete(contextOf(request), imageId(request));
      return reply.code(204).send();
    },
  });

  resource(app, '/images/:image_id/actions/deactivate', {
    POST: async (request, reply) => {
      rejectBody(request);
      await images.deactivate(contextOf(request), imageId(request));
      return reply.code(204).send();
    },
  });

  resource(app, '/images/:image_id/actions/reactivate', {
    POST: async (request, reply) => {
      rejectBody(request);
      await images.reactivate(contextOf(request), imageId(request));
      return reply.code(204).send();
    },
  });

  resource(app, '/images/:image_id/tags/:tag', {
    PUT: async (request, reply) => {
      rejectBody(request);
      const { image_id: id, tag } = request.params as TagParams;
      await images.addTag(contextOf(request), id, tag);
      return reply.code(204).send();
    },
    DELETE: async (request, reply) => {
      rejectBody(request);
      const { image_id: id, tag } = request.params as TagParams;
      await images.removeTag(contextOf(request), id, tag);
      return reply.code(204).send();
    },
  });
  done();
};
