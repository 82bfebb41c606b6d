import { TASK_STATUSES } from './task-status.js';
import { TASK_TYPES } from './task-types.js';

type Schema = Readonly<Record<string, unknown>>;

/** The task's attributes as `/v2/schemas/task` describes them (reference §4, §10). */
function taskProperties(full: boolean): Record<string, unknown> {
  const text = (description: string): Schema => ({ type: 'string', description });
  const stamp = (description: string): Schema => ({ type: 'string', format: 'date-time', description });
  return {
    id: { type: 'string', pattern: '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$', description: 'The task id.' },
    type: { type: 'string', enum: [...TASK_TYPES], description: 'What the task does.' },
    status: { type: 'string', enum: [...TASK_STATUSES], description: 'Where the task is in its lifecycle.' },
    ...(full
      ? {
          input: { type: ['null', 'object'], description: 'What the task was asked to do.' },
          result: { type: ['null', 'object'], description: 'What the task produced.' },
          message: text('Human-readable news of the task: progress, or why it failed.'),
        }
      : {}),
    owner: { type: ['null', 'string'], description: 'The project the task belongs to.' },
    image_id: text('The image the task works on.'),
    request_id: text('The request that created the task.'),
    user_id: text('The user who created the task.'),
    expires_at: { type: ['null', 'string'], format: 'date-time', description: 'When a finished task stops being listed.' },
    created_at: stamp('When the task was created.'),
    updated_at: stamp('When the task last changed.'),
    self: { type: 'string', readOnly: true },
    schema: { type: 'string', readOnly: true },
  };
}

export function taskSchema(): Schema {
  return { name: 'task', properties: taskProperties(true) };
}

/** The collection: each item is the partial task (no input, result or message). */
export function tasksSchema(): Schema {
  return {
    name: 'tasks',
    properties: {
      tasks: { type: 'array', items: { name: 'task', properties: taskProperties(false) } },
      schema: { type: 'string' },
      first: { type: 'string' },
      next: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}
