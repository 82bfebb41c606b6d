import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { versionsDocument } from '../versions.js';

/** `GET /` answers 300 and `GET /versions` 200, with the same document (reference §1.2). */
export const versionRoutes: FastifyPluginCallback<{ baseUrl: (request: FastifyRequest) => string }> = (app, { baseUrl }, done) => {
  app.all('/', async (request, reply) => {
    void reply.code(300);
    return Promise.resolve(versionsDocument(baseUrl(request)));
  });
  app.all('/versions', async (request) => Promise.resolve(versionsDocument(baseUrl(request))));
  done();
};
