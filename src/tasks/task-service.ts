import type { PolicyCheck } from '../auth/policy-check.js';
import { policyCredentials, type RequestContext } from '../auth/request-context.js';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../errors/domain-errors.js';
import { TASK_SORT_KEYS, type TaskListQuery, type TaskRepository, type TaskSortKey } from './task-repository.js';
import { TASK_STATUSES, type TaskStatus } from './task-status.js';
import { TASK_TYPES, type Task, type TaskType } from './task-types.js';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export interface TaskListPage {
  readonly tasks: readonly Task[];
  /** The marker of the next page, when the page was full. */
  readonly nextMarker: string | null;
}

/**
 * The tasks API (reference §10): admin-only by default (`tasks_api_access`), each caller sees
 * its own project's tasks unless admin. Tasks are never deleted through the API; they expire.
 */
export class TaskService {
  constructor(
    private readonly tasks: TaskRepository,
    private readonly policy: PolicyCheck,
    private readonly limits: { readonly limitParamDefault: number; readonly apiLimitMax: number },
    /** Tells the job runner a new task is waiting. */
    private readonly wake: () => void,
  ) {}

  /**
   * `POST /v2/tasks` (reference §10): `type` and `input` are required and checked against the
   * task schema; the legacy `import` type runs as a job, whose faults are the task's failure.
   */
  async create(context: RequestContext, body: unknown): Promise<Task> {
    this.requireAccess(context, 'add_task');
    const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    if (fields['type'] === undefined) throw new InvalidInputError("Task 'type' is required");
    if (fields['input'] === undefined) throw new InvalidInputError("Task 'input' is required");
    const type = fields['type'];
    const input = fields['input'];
    if (typeof type !== 'string' || !TASK_TYPES.includes(type as TaskType)) {
      throw new InvalidInputError(`Provided object does not match schema 'task': ${JSON.stringify(type)} is not one of ['import', 'api_image_import']`);
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new InvalidInputError("Provided object does not match schema 'task': 'input' is not an object");
    // api_image_import tasks are made by POST /v2/images/{id}/import, which checks what they need.
    if (type !== 'import') throw new InvalidInputError(`Task type '${type}' cannot be created through the tasks API; use POST /v2/images/{id}/import`);
    if (context.readOnly) throw new ForbiddenError('Read-only access');
    const task = await this.tasks.create({
      type: 'import',
      owner: context.projectId,
      imageId: null,
      requestId: context.requestId,
      userId: context.userId,
      input: input as Record<string, unknown>,
      progress: { roles: [...context.roles] },
    });
    this.wake();
    return task;
  }

  private requireAccess(context: RequestContext, rule: 'get_tasks' | 'get_task' | 'add_task'): void {
    const credentials = policyCredentials(context);
    const target = { project_id: context.projectId, owner: context.projectId };
    if (!this.policy.enforce('tasks_api_access', target, credentials) || !this.policy.enforce(rule, target, credentials)) {
      throw new ForbiddenError('You are not authorized to complete this action.');
    }
  }

  async list(context: RequestContext, params: ReadonlyMap<string, readonly string[]>): Promise<TaskListPage> {
    this.requireAccess(context, 'get_tasks');
    const one = (name: string): string | undefined => params.get(name)?.at(-1);
    const limitText = one('limit');
    if (limitText !== undefined && !/^\d+$/.test(limitText)) throw new InvalidInputError('limit param must be an integer');
    const limit = Math.min(limitText === undefined ? this.limits.limitParamDefault : Number(limitText), this.limits.apiLimitMax);
    const sortKeyText = one('sort_key') ?? 'created_at';
    const sortKey = TASK_SORT_KEYS.find((k) => k === sortKeyText);
    if (sortKey === undefined) throw new InvalidInputError(`Invalid sort key: ${sortKeyText}`);
    const sortDir = one('sort_dir') ?? 'desc';
    if (sortDir !== 'asc' && sortDir !== 'desc') throw new InvalidInputError(`Invalid sort direction: ${sortDir}`);
    const statusText = one('status');
    const status = statusText === undefined ? null : (TASK_STATUSES.find((s) => s === statusText) ?? null);
    if (statusText !== undefined && status === null) throw new InvalidInputError(`Invalid status value: ${statusText}`);
    const typeText = one('type');
    const type = typeText === undefined ? null : (TASK_TYPES.find((t) => t === typeText) ?? null);
    if (typeText !== undefined && type === null) throw new InvalidInputError(`Invalid type value: ${typeText}`);
    const markerId = one('marker');
    let marker: Task | null = null;
    if (markerId !== undefined) {
      if (!UUID.test(markerId)) throw new InvalidInputError('Invalid marker format');
      marker = await this.tasks.findById(markerId);
      if (marker === null) throw new InvalidInputError(`Invalid marker. Task ${markerId} could not be found.`);
    }
    await this.tasks.deleteExpired();
    const query: TaskListQuery = {
      owner: context.isAdmin ? null : (context.projectId ?? ''),
      status: status satisfies TaskStatus | null,
      type: type satisfies TaskType | null,
      sortKey: sortKey satisfies TaskSortKey,
      sortDir,
      limit,
      marker,
    };
    const tasks = await this.tasks.list(query);
    return { tasks, nextMarker: tasks.length === limit && limit > 0 ? (tasks.at(-1)?.id ?? null) : null };
  }

  async get(context: RequestContext, id: string): Promise<Task> {
    this.requireAccess(context, 'get_task');
    const task = await this.tasks.findById(id);
    if (task === null) throw new NotFoundError(`Task with the given id ${id} could not be found`);
    if (!context.isAdmin && task.owner !== context.projectId) throw new ForbiddenError('Forbidden to get task');
    return task;
  }

  /** `GET /v2/images/{id}/tasks` (2.12): no tasks_api_access check; the caller's or every task for an admin. */
  async forImage(context: RequestContext, imageId: string): Promise<Task[]> {
    const tasks = await this.tasks.forImage(imageId);
    return context.isAdmin ? tasks : tasks.filter((t) => t.owner === context.projectId);
  }
}
