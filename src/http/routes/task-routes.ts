import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { contextOf } from '../authentication-hook.js';
import { MethodNotAllowedError } from '../../errors/domain-errors.js';
import type { ImageAccess } from '../../images/image-access.js';
import type { TaskService } from '../../tasks/task-service.js';
import { imageTaskView, taskStub, taskView } from '../../tasks/task-view.js';
import { taskSchema, tasksSchema } from '../../tasks/task-schema.js';
import { jsonBody, rejectBody } from '../body.js';
import { queryParams, resource } from '../resource.js';

function pageLink(params: ReadonlyMap<string, readonly string[]>, marker: string | null): string {
  const search = new URLSearchParams();
  for (const [name, values] of params) if (name !== 'marker') for (const value of values) search.append(name, value);
  if (marker !== null) search.set('marker', marker);
  const query = search.toString();
  return query === '' ? '/v2/tasks' : `/v2/tasks?${query}`;
}

/** The tasks API (reference §10) and an image's tasks (2.12). */
export const taskRoutes: FastifyPluginCallback<{ tasks: TaskService; access: ImageAccess; baseUrl: (request: FastifyRequest) => string }> = (
  app,
  { tasks, access, baseUrl },
  done,
) => {
  resource(app, '/tasks', {
    POST: async (request, reply) => {
      const task = await tasks.create(contextOf(request), jsonBody(request));
      void reply.code(201).header('Location', `${baseUrl(request)}/v2/tasks/${task.id}`);
      return taskView(task);
    },
    GET: async (request) => {
      rejectBody(request);
      const params = queryParams(request);
      const page = await tasks.list(contextOf(request), params);
      return {
        tasks: page.tasks.map(taskStub),
        first: pageLink(params, null),
        schema: '/v2/schemas/tasks',
        ...(page.nextMarker === null ? {} : { next: pageLink(params, page.nextMarker) }),
      };
    },
  });
  resource(app, '/tasks/:task_id', {
    GET: async (request) => {
      rejectBody(request);
      return taskView(await tasks.get(contextOf(request), (request.params as { task_id: string }).task_id));
    },
    DELETE: () => {
      return Promise.reject(
        new MethodNotAllowedError(
          ['GET'],
          'This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property.',
        ),
      );
    },
  });
  for (const [name, schema] of [
    ['task', taskSchema()],
    ['tasks', tasksSchema()],
  ] as const) {
    resource(app, `/schemas/${name}`, {
      GET: async (request) => {
        rejectBody(request);
        return Promise.resolve(schema);
      },
    });
  }
  resource(app, '/images/:image_id/tasks', {
    GET: async (request: FastifyRequest) => {
      rejectBody(request);
      const context = contextOf(request);
      const id = (request.params as { image_id: string }).image_id;
      const loaded = await access.load(context, id);
      access.authorize(context, 'get_image', loaded, `No image found with ID ${id}`);
      return { tasks: (await tasks.forImage(context, id)).map(imageTaskView) };
    },
  });
  done();
};
