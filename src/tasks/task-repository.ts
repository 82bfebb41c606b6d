import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.js';
import type { TasksTable } from '../db/schema.js';
import { TASK_STATUSES, type TaskStatus } from './task-status.js';
import { TASK_TYPES, type JsonObject, type NewTask, type Task, type TaskType } from './task-types.js';

function now(): string {
  return new Date().toISOString();
}

function json(text: string | null): JsonObject | null {
  if (text === null) return null;
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : null;
}

function toTask(row: TasksTable): Task {
  const status = TASK_STATUSES.find((s) => s === row.status);
  const type = TASK_TYPES.find((t) => t === row.type);
  if (status === undefined || type === undefined) throw new Error(`task ${row.id} has an unknown status or type: ${row.status} ${row.type}`);
  return {
    id: row.id,
    type,
    status,
    owner: row.owner,
    imageId: row.image_id,
    requestId: row.request_id,
    userId: row.user_id,
    input: json(row.input),
    result: json(row.result),
    message: row.message,
    progress: json(row.progress),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    expiresAt: row.expires_at,
  };
}

/** Sortable task columns (reference §10: any task column). */
export const TASK_SORT_KEYS = ['created_at', 'updated_at', 'expires_at', 'id', 'type', 'status', 'owner', 'image_id'] as const;
export type TaskSortKey = (typeof TASK_SORT_KEYS)[number];

export interface TaskListQuery {
  readonly owner: string | null;
  readonly status: TaskStatus | null;
  readonly type: TaskType | null;
  readonly sortKey: TaskSortKey;
  readonly sortDir: 'asc' | 'desc';
  readonly limit: number;
  readonly marker: Task | null;
}

export interface TaskChanges {
  readonly message?: string;
  readonly result?: JsonObject | null;
  readonly progress?: JsonObject | null;
  readonly expiresAt?: string | null;
}

export class TaskRepository {
  constructor(private readonly db: Db) {}

  async create(task: NewTask): Promise<Task> {
    const at = now();
    const row: TasksTable = {
      id: task.id ?? randomUUID(),
      type: task.type,
      status: 'pending',
      owner: task.owner,
      image_id: task.imageId,
      request_id: task.requestId,
      user_id: task.userId,
      input: JSON.stringify(task.input),
      result: null,
      message: '',
      progress: task.progress === undefined ? null : JSON.stringify(task.progress),
      created_at: at,
      updated_at: at,
      expires_at: null,
      deleted: 0,
      deleted_at: null,
    };
    await this.db.insertInto('tasks').values(row).execute();
    return toTask(row);
  }

  async findById(id: string): Promise<Task | null> {
    const row = await this.db.selectFrom('tasks').selectAll().where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
    return row === undefined ? null : toTask(row);
  }

  /** A page of tasks, ordered by the sort key then id, after the marker. */
  async list(query: TaskListQuery): Promise<Task[]> {
    let select = this.db.selectFrom('tasks').selectAll().where('deleted', '=', 0);
    if (query.owner !== null) select = select.where('owner', '=', query.owner);
    if (query.status !== null) select = select.where('status', '=', query.status);
    if (query.type !== null) select = select.where('type', '=', query.type);
    const marker = query.marker;
    if (marker !== null) {
      const key = query.sortKey;
      const value = markerValue(marker, key);
      const after = query.sortDir === 'asc' ? '>' : '<';
      select = select.where((eb) =>
        value === null ? eb('id', after, marker.id) : eb.or([eb(key, after, value), eb.and([eb(key, '=', value), eb('id', after, marker.id)])]),
      );
    }
    const rows = await select.orderBy(query.sortKey, query.sortDir).orderBy('id', query.sortDir).limit(query.limit).execute();
    return rows.map(toTask);
  }

  /** Every task of an image not yet expired, oldest first (GET /v2/images/{id}/tasks). */
  async forImage(imageId: string): Promise<Task[]> {
    const at = now();
    const rows = await this.db
      .selectFrom('tasks')
      .selectAll()
      .where('image_id', '=', imageId)
      .where('deleted', '=', 0)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
      .orderBy('created_at')
      .execute();
    return rows.map(toTask);
  }

  /** Unfinished tasks of the given types: the jobs some node should be running. */
  async unfinished(types: readonly TaskType[]): Promise<Task[]> {
    if (types.length === 0) return [];
    const rows = await this.db
      .selectFrom('tasks')
      .selectAll()
      .where('deleted', '=', 0)
      .where('status', 'in', ['pending', 'processing'])
      .where('type', 'in', [...types])
      .orderBy('created_at')
      .execute();
    return rows.map(toTask);
  }

  /** The status change as a compare-and-set: false when the task was not in `from` any more. */
  async transition(id: string, from: TaskStatus, to: TaskStatus, changes: TaskChanges = {}): Promise<boolean> {
    const result = await this.db
      .updateTable('tasks')
      .set({ status: to, updated_at: now(), ...columns(changes) })
      .where('id', '=', id)
      .where('status', '=', from)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Progress and message of a task still in `status` (a job's report as it works). */
  async update(id: string, status: TaskStatus, changes: TaskChanges): Promise<boolean> {
    const result = await this.db
      .updateTable('tasks')
      .set({ updated_at: now(), ...columns(changes) })
      .where('id', '=', id)
      .where('status', '=', status)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Adds `patch` to the progress a job keeps (only the lease holder writes it), with a message,
   * while the task is still in `status`.
   */
  async mergeProgress(id: string, status: TaskStatus, patch: JsonObject, message?: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('tasks').select('progress').where('id', '=', id).where('status', '=', status).executeTakeFirst();
      if (row === undefined) return false;
      const progress = { ...(json(row.progress) ?? {}), ...patch };
      await trx
        .updateTable('tasks')
        .set({ progress: JSON.stringify(progress), updated_at: now(), ...(message === undefined ? {} : { message }) })
        .where('id', '=', id)
        .where('status', '=', status)
        .execute();
      return true;
    });
  }

  /** Names the image a task made (a legacy import creates its image as it runs). */
  async setImage(id: string, imageId: string): Promise<void> {
    await this.db.updateTable('tasks').set({ image_id: imageId, updated_at: now() }).where('id', '=', id).execute();
  }

  /** Soft-deletes finished tasks past their expiry (Glance does it before a list, reference §10). */
  async deleteExpired(): Promise<number> {
    const at = now();
    const result = await this.db
      .updateTable('tasks')
      .set({ deleted: 1, deleted_at: at })
      .where('deleted', '=', 0)
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', at)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}

function columns(changes: TaskChanges): Partial<TasksTable> {
  const set: Partial<TasksTable> = {};
  if (changes.message !== undefined) set.message = changes.message;
  if (changes.result !== undefined) set.result = changes.result === null ? null : JSON.stringify(changes.result);
  if (changes.progress !== undefined) set.progress = changes.progress === null ? null : JSON.stringify(changes.progress);
  if (changes.expiresAt !== undefined) set.expires_at = changes.expiresAt;
  return set;
}

function markerValue(task: Task, key: TaskSortKey): string | null {
  switch (key) {
    case 'created_at':
      return task.createdAt;
    case 'updated_at':
      return task.updatedAt;
    case 'expires_at':
      return task.expiresAt;
    case 'id':
      return task.id;
    case 'type':
      return task.type;
    case 'status':
      return task.status;
    case 'owner':
      return task.owner;
    case 'image_id':
      return task.imageId;
  }
}
