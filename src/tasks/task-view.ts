import type { Task } from './task-types.js';

/** Glance's task timestamps: whole seconds and a Z, like images (reference §10). */
function stamp(iso: string): string {
  return `${iso.slice(0, 19)}Z`;
}

/** The task body of `GET /v2/tasks/{id}` (reference §10). */
export function taskView(task: Task): Record<string, unknown> {
  return {
    ...taskStub(task),
    input: task.input,
    result: task.result,
    message: task.message,
  };
}

/** A list item: the task without input, result and message. */
export function taskStub(task: Task): Record<string, unknown> {
  return {
    id: task.id,
    type: task.type,
    status: task.status,
    owner: task.owner,
    created_at: stamp(task.createdAt),
    updated_at: stamp(task.updatedAt),
    ...(task.expiresAt === null ? {} : { expires_at: stamp(task.expiresAt) }),
    ...(task.imageId === null ? {} : { image_id: task.imageId }),
    ...(task.requestId === null ? {} : { request_id: task.requestId }),
    ...(task.userId === null ? {} : { user_id: task.userId }),
    self: `/v2/tasks/${task.id}`,
    schema: '/v2/schemas/task',
  };
}

/** Database-dict datetimes of `GET /v2/images/{id}/tasks`: microseconds, no Z (reference §10). */
function rawStamp(iso: string | null): string | null {
  return iso === null ? null : `${iso.slice(0, 19)}.${iso.slice(20, 23).padEnd(6, '0')}`;
}

/** An item of `GET /v2/images/{id}/tasks`: the raw row, as Glance returns it. */
export function imageTaskView(task: Task): Record<string, unknown> {
  return {
    id: task.id,
    type: task.type,
    status: task.status,
    owner: task.owner,
    expires_at: rawStamp(task.expiresAt),
    created_at: rawStamp(task.createdAt),
    updated_at: rawStamp(task.updatedAt),
    deleted_at: null,
    deleted: false,
    image_id: task.imageId,
    request_id: task.requestId,
    user_id: task.userId,
    input: task.input,
    result: task.result,
    message: task.message,
  };
}
