import type { FastifyPluginCallback } from 'fastify';
import { contextOf } from '../authentication-hook.js';
import type { InfoService } from '../../info/info-service.js';
import { rejectBody } from '../body.js';
import { resource } from '../resource.js';

/** `GET /v2/info/*` (reference §9.1, §13.3); `/v2/info/import` is the import module's. */
export const infoRoutes: FastifyPluginCallback<{ info: InfoService }> = (app, { info }, done) => {
  resource(app, '/info/stores', {
    GET: async (request) => {
      rejectBody(request);
      return Promise.resolve({ stores: info.storeList() });
    },
  });
  resource(app, '/info/stores/detail', {
    GET: async (request) => {
      rejectBody(request);
      return Promise.resolve({ stores: info.storeDetails(contextOf(request)) });
    },
  });
  resource(app, '/info/property-protections', {
    GET: async (request) => {
      rejectBody(request);
      return Promise.resolve(info.propertyProtections(contextOf(request)));
    },
  });
  resource(app, '/info/usage', {
    GET: async (request) => {
      rejectBody(request);
      // Keystone unified limits are not in use, where Glance also answers an empty usage (§13.3).
      return Promise.resolve({ usage: {} });
    },
  });
  done();
};
