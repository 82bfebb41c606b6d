import { ConflictError } from '../errors/domain-errors.js';

export const TASK_STATUSES = ['pending', 'processing', 'success', 'failure'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/**
 * The task lifecycle, one table (reference §10): pending → processing or failure, processing →
 * success or failure; success and failure are final. Every change is a compare-and-set on the
 * stored status (TaskRepository.transition), so a job taken over by another node cannot be
 * finished twice.
 */
export const TASK_TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  pending: ['processing', 'failure'],
  processing: ['success', 'failure'],
  success: [],
  failure: [],
};

export function checkTaskTransition(from: TaskStatus, to: TaskStatus): void {
  if (!TASK_TRANSITIONS[from].includes(to)) throw new ConflictError(`Task status transition from ${from} to ${to} is not allowed`);
}

export function isFinished(status: TaskStatus): boolean {
  return TASK_TRANSITIONS[status].length === 0;
}
