import type { Lease, LeaseStore } from '../coordination/lease-store.js';
import type { Logger } from '../ports/logger.js';
import type { TaskRepository } from './task-repository.js';
import type { Task, TaskType } from './task-types.js';

/** The database lease a runner holds while it works on a task. */
export function jobLeaseName(taskId: string): string {
  return `task:${taskId}`;
}

/** Why a job's signal was aborted: this process is stopping; the job is left for whoever takes it over. */
export class JobAbandonedError extends Error {}

/** Why a job's signal was aborted: its lease lapsed and another node may be running it now. */
export class LeaseLostError extends Error {}

export interface JobContext {
  /**
   * Aborted when the job must stop at once without touching the image or the task: this process
   * is stopping (JobAbandonedError) or the lease was lost (LeaseLostError). Either way another
   * node resumes the job from what the rows say.
   */
  readonly signal: AbortSignal;
  /** The job ran before (status processing): a node stopped while running it. */
  readonly resumed: boolean;
}

/**
 * Runs one task to its end: it moves the task to success or failure itself, and is written to be
 * resumed from the rows at any point (a node may stop anywhere).
 */
export type JobHandler = (task: Task, context: JobContext) => Promise<void>;

export interface TaskRunnerOptions {
  readonly tasks: TaskRepository;
  readonly leases: LeaseStore;
  /** This process among every holder of leases (`<node id>#<pid>`). */
  readonly holder: string;
  readonly handlers: Partial<Readonly<Record<TaskType, JobHandler>>>;
  /** Jobs run at once by this process (`[taskflow_executor] max_workers`). */
  readonly maxWorkers: number;
  /** How long a job's lease lasts unless renewed (`[task] job_lease_seconds`); renewed every third of it. */
  readonly leaseMs: number;
  /** How often unfinished jobs are looked for, when nothing kicks the runner. */
  readonly pollMs: number;
  readonly log: Logger;
}

/**
 * Durable jobs (README "Import"): a job is a task row, not a promise in one process. A runner
 * claims the database lease `task:<id>` before it works on a job and renews it while it does;
 * a job whose lease lapsed (its node died) is claimed by whichever runner looks next, on any
 * node, and resumed. At most `maxWorkers` jobs run in this process at once.
 */
export class TaskRunner {
  readonly #options: TaskRunnerOptions;
  readonly #running = new Map<string, AbortController>();
  #timer: NodeJS.Timeout | null = null;
  #scanning: Promise<void> | null = null;
  #rescan = false;
  #stopped = false;
  readonly #jobs = new Set<Promise<void>>();

  constructor(options: TaskRunnerOptions) {
    this.#options = options;
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.kick(), this.#options.pollMs);
    this.#timer.unref();
    this.kick();
  }

  /** Looks for jobs now (a new task was created). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#scanning !== null) {
      this.#rescan = true;
      return;
    }
    this.#scanning = this.#scan()
      .catch((error: unknown) => this.#options.log.error({ err: error }, 'looking for import jobs failed'))
      .finally(() => {
        this.#scanning = null;
        if (this.#rescan) {
          this.#rescan = false;
          this.kick();
        }
      });
  }

  /** Stops claiming, and abandons running jobs to be taken over: their leases are released. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#scanning;
    for (const controller of this.#running.values()) controller.abort(new JobAbandonedError('glimpse-api is stopping'));
    await Promise.allSettled([...this.#jobs]);
  }

  /** Jobs running in this process now. */
  get running(): number {
    return this.#running.size;
  }

  /** Settles once no job runs in this process (tests). */
  async idle(): Promise<void> {
    while (this.#jobs.size > 0 || this.#scanning !== null) await Promise.allSettled([...this.#jobs, this.#scanning]);
  }

  async #scan(): Promise<void> {
    const { tasks, leases, holder, handlers, maxWorkers, leaseMs } = this.#options;
    const types = Object.keys(handlers) as TaskType[];
    for (const task of await tasks.unfinished(types)) {
      if (this.#stopped || this.#running.size >= maxWorkers) return;
      if (this.#running.has(task.id)) continue;
      const lease = await leases.claim(jobLeaseName(task.id), holder, leaseMs);
      if (lease === null) continue;
      const handler = handlers[task.type];
      if (handler === undefined) continue;
      this.#launch(task, lease, handler);
    }
  }

  #launch(task: Task, first: Lease, handler: JobHandler): void {
    const { leases, leaseMs, log } = this.#options;
    const controller = new AbortController();
    this.#running.set(task.id, controller);
    // Renewed from a timer, so kept in an object the closures share.
    const held: { lease: Lease | null } = { lease: first };
    const renewal = setInterval(
      () => {
        if (held.lease === null) return;
        leases.renew(held.lease, leaseMs).then(
          (renewed) => {
            held.lease = renewed;
            if (renewed === null) controller.abort(new LeaseLostError(`the lease of task ${task.id} lapsed`));
          },
          (error: unknown) => log.warn({ err: error, taskId: task.id }, 'renewing a job lease failed; trying again'),
        );
      },
      Math.max(500, Math.floor(leaseMs / 3)),
    );
    const job = (async () => {
      try {
        // Read again under the lease: the row may have moved on since the scan.
        const current = await this.#options.tasks.findById(task.id);
        if (current === null || (current.status !== 'pending' && current.status !== 'processing')) return;
        await handler(current, { signal: controller.signal, resumed: current.status === 'processing' });
      } catch (error) {
        if (controller.signal.aborted) log.info({ err: error, taskId: task.id }, 'import job stopped; it will be resumed');
        else log.error({ err: error, taskId: task.id }, 'import job failed unexpectedly');
      } finally {
        clearInterval(renewal);
        this.#running.delete(task.id);
        if (held.lease !== null) await leases.release(held.lease).catch(() => undefined);
      }
    })();
    this.#jobs.add(job);
    void job.finally(() => {
      this.#jobs.delete(job);
      // A slot is free: another waiting job may start.
      this.kick();
    });
  }
}
