import { backgroundContext, type RequestContext } from '../auth/request-context.js';
import type { ImageRepository } from '../images/image-repository.js';
import type { Image } from '../images/image-types.js';
import type { Logger } from '../ports/logger.js';
import type { TaskRepository } from '../tasks/task-repository.js';
import type { JobContext, JobHandler } from '../tasks/task-runner.js';
import type { Task } from '../tasks/task-types.js';
import { IMPORT_LOCK, IMPORTING_TO_STORES } from './import-properties.js';

export interface LegacyImportDeps {
  readonly tasks: TaskRepository;
  readonly repo: ImageRepository;
  /** Image create as the API does it (schema, quotas, protections), for the task's owner. */
  readonly createImage: (context: RequestContext, body: unknown) => Promise<Image>;
  /** The api_image_import job, which takes over once the image exists and is locked. */
  readonly importJob: JobHandler;
  readonly defaultStore: string;
  readonly taskTimeToLiveHours: number;
  readonly log: Logger;
}

/**
 * The legacy `import` task (reference §10): `POST /v2/tasks` with `import_from`,
 * `import_from_format` and `image_properties`. Its faults are the task's failure, never an HTTP
 * error. The job creates the image (once: its id is written on the task before anything else),
 * takes the import lock, and then runs as a web-download import into the default store, so it
 * is as durable and as strictly filtered as every other import.
 */
export class LegacyImportJob {
  constructor(private readonly deps: LegacyImportDeps) {}

  readonly run = async (task: Task, job: JobContext): Promise<void> => {
    const { tasks } = this.deps;
    if (task.status === 'pending' && !(await tasks.transition(task.id, 'pending', 'processing'))) return;
    let current = task;
    if (current.imageId === null) {
      const fault = this.#fault(current);
      if (fault !== null) {
        await tasks.transition(task.id, 'processing', 'failure', { message: fault, expiresAt: this.#expiry() });
        return;
      }
      try {
        const image = await this.deps.createImage(this.#context(current), {
          ...(current.input?.['image_properties'] as object),
          disk_format: current.input?.['import_from_format'],
        });
        await tasks.setImage(task.id, image.id);
      } catch (error) {
        if (job.signal.aborted) throw error;
        const message = `The image could not be created: ${error instanceof Error ? error.message : String(error)}`;
        await tasks.transition(task.id, 'processing', 'failure', { message, expiresAt: this.#expiry() });
        return;
      }
      current = (await tasks.findById(task.id)) ?? current;
    }
    const imageId = current.imageId ?? '';
    // The lock and the importing status, as POST /import sets them (idempotent on a resume).
    if ((await this.deps.repo.swapProperty(imageId, IMPORT_LOCK, null, task.id)) && (await this.deps.repo.transitionStatus(imageId, 'queued', 'importing'))) {
      await this.deps.repo.setServerProperties(imageId, { [IMPORTING_TO_STORES]: this.deps.defaultStore });
    }
    await this.deps.importJob({ ...current, status: 'processing' }, job);
  };

  /** Why the input cannot be imported, in Glance's words, or null (reference §10). */
  #fault(task: Task): string | null {
    const input = task.input ?? {};
    const from = input['import_from'];
    if (typeof from !== 'string' || typeof input['import_from_format'] !== 'string' || typeof input['image_properties'] !== 'object') {
      return "Input does not contain 'import_from', 'import_from_format' and 'image_properties'.";
    }
    const scheme = from.split(':')[0]?.toLowerCase() ?? '';
    if (scheme === 'file') return 'File based imports are not allowed. Please use a non-local source of image data.';
    if (scheme !== 'http' && scheme !== 'https')
      return `The given uri is not valid. Please specify a valid uri from the following list of supported uri ['http', 'https']`;
    return null;
  }

  #context(task: Task): RequestContext {
    const roles = Array.isArray(task.progress?.['roles']) ? task.progress['roles'].filter((r): r is string => typeof r === 'string') : [];
    return backgroundContext({ requestId: task.requestId ?? `task-${task.id}`, userId: task.userId, projectId: task.owner, roles });
  }

  #expiry(): string {
    return new Date(Date.now() + this.deps.taskTimeToLiveHours * 3600_000).toISOString();
  }
}
