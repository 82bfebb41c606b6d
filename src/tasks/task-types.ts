import type { TaskStatus } from './task-status.js';

/** Task types the API accepts (reference §10): the legacy import and interoperable import. */
export const TASK_TYPES = ['import', 'api_image_import'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export type JsonObject = { readonly [key: string]: unknown };

export interface Task {
  readonly id: string;
  readonly type: TaskType;
  readonly status: TaskStatus;
  readonly owner: string | null;
  readonly imageId: string | null;
  readonly requestId: string | null;
  readonly userId: string | null;
  readonly input: JsonObject | null;
  readonly result: JsonObject | null;
  readonly message: string;
  /** What a running job reached (its own shape per type); never shown by the API. */
  readonly progress: JsonObject | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expiresAt: string | null;
}

export interface NewTask {
  /** Chosen by the caller when something must name the task before it exists (the import lock). */
  readonly id?: string;
  readonly type: TaskType;
  readonly owner: string | null;
  readonly imageId: string | null;
  readonly requestId: string | null;
  readonly userId: string | null;
  readonly input: JsonObject;
  /** What the job needs that the API does not show (the caller's roles, say). */
  readonly progress?: JsonObject;
}
