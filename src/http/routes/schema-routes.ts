import type { FastifyPluginCallback } from 'fastify';
import type { JsonSchema } from '../../images/image-schema.js';
import { rejectBody } from '../body.js';
import { resource } from '../resource.js';

/** `GET /v2/schemas/*` (reference §4): the very objects the validators were compiled from. */
export const schemaRoutes: FastifyPluginCallback<{ schemas: Readonly<Record<'image' | 'images' | 'member' | 'members', JsonSchema>> }> = (
  app,
  { schemas },
  done,
) => {
  for (const name of ['image', 'images', 'member', 'members'] as const) {
    resource(app, `/schemas/${name}`, {
      GET: async (request) => {
        rejectBody(request);
        return Promise.resolve(schemas[name]);
      },
    });
  }
  done();
};
