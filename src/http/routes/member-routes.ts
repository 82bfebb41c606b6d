import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { contextOf } from '../authentication-hook.js';
import { memberView } from '../../images/image-view.js';
import type { MemberService } from '../../images/member-service.js';
import { jsonBody, rejectBody } from '../body.js';
import { resource } from '../resource.js';

interface MemberParams {
  image_id: string;
  member_id: string;
}

function params(request: FastifyRequest): MemberParams {
  return request.params as MemberParams;
}

/** The members API (reference §5.3). Adding a member answers 200, not 201, as Glance does. */
export const memberRoutes: FastifyPluginCallback<{ members: MemberService }> = (app, { members }, done) => {
  resource(app, '/images/:image_id/members', {
    GET: async (request) => {
      rejectBody(request);
      const rows = await members.list(contextOf(request), params(request).image_id);
      return { members: rows.map(memberView), schema: '/v2/schemas/members' };
    },
    POST: async (request) => memberView(await members.add(contextOf(request), params(request).image_id, jsonBody(request))),
  });

  resource(app, '/images/:image_id/members/:member_id', {
    GET: async (request) => {
      rejectBody(request);
      const { image_id: id, member_id: member } = params(request);
      return memberView(await members.get(contextOf(request), id, member));
    },
    PUT: async (request) => {
      const { image_id: id, member_id: member } = params(request);
      return memberView(await members.updateStatus(contextOf(request), id, member, jsonBody(request)));
    },
    DELETE: async (request, reply) => {
      rejectBody(request);
      const { image_id: id, member_id: member } = params(request);
      await members.remove(contextOf(request), id, member);
      return reply.code(204).send();
    },
  });
  done();
};
