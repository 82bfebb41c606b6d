import type { PolicyCheck } from '../auth/policy-check.js';
import { policyCredentials, type RequestContext } from '../auth/request-context.js';
import { ForbiddenError, NotFoundError } from '../errors/domain-errors.js';
import type { ImageRepository } from './image-repository.js';
import type { Image } from './image-types.js';
import { imageView } from './image-view.js';

/** An image loaded for a caller, with whether the caller's project is one of its members. */
export interface LoadedImage {
  readonly image: Image;
  readonly callerIsMember: boolean;
}

/**
 * Loading an image for a caller, and the checks every image operation shares: the visibility
 * rule (reference §5.2), policy with Glance's 403→404 masking (§16.2), and the owner check that
 * Glance applies to every image write (§16.2).
 */
export class ImageAccess {
  constructor(
    private readonly repo: ImageRepository,
    private readonly policy: PolicyCheck,
  ) {}

  /** The image, or 404 when it does not exist or the caller may not see it. */
  async load(context: RequestContext, id: string): Promise<LoadedImage> {
    const notFound = (): NotFoundError => new NotFoundError(`No image found with ID ${id}`);
    // Ids are at most 36 characters; anything longer cannot exist (reference §2.3).
    if (id.length > 36) throw notFound();
    const image = await this.repo.findById(id);
    if (image === null) throw notFound();
    const project = context.projectId;
    const callerIsMember = project !== null && image.owner !== project && image.visibility === 'shared' && (await this.repo.findMember(id, project)) !== null;
    const readable =
      context.isAdmin ||
      image.owner === null ||
      image.visibility === 'public' ||
      image.visibility === 'community' ||
      (project !== null && image.owner === project) ||
      callerIsMember;
    if (!readable) throw notFound();
    const loaded = { image, callerIsMember };
    if (!this.allows(context, 'get_image', loaded)) throw notFound();
    return loaded;
  }

  /** Policy target for image rules: every attribute, project_id = owner, member_id (reference §16.2). */
  target(context: RequestContext, loaded: LoadedImage): Record<string, unknown> {
    return {
      ...imageView(loaded.image),
      project_id: loaded.image.owner,
      member_id: loaded.callerIsMember ? context.projectId : null,
    };
  }

  allows(context: RequestContext, rule: string, loaded: LoadedImage): boolean {
    return this.policy.enforce(rule, this.target(context, loaded), policyCredentials(context));
  }

  /** Enforces an image rule; a caller who may not even read the image gets 404 instead of 403. */
  authorize(context: RequestContext, rule: string, loaded: LoadedImage, message: string): void {
    if (this.allows(context, rule, loaded)) return;
    if (!this.allows(context, 'get_image', loaded)) throw new NotFoundError(`No image found with ID ${loaded.image.id}`);
    throw new ForbiddenError(message);
  }

  /** Writes need the owner or an admin in both policy modes (reference §16.2). */
  requireOwner(context: RequestContext, loaded: LoadedImage, message = 'You do not own this image'): void {
    if (context.isAdmin) return;
    if (loaded.image.owner !== null && loaded.image.owner === context.projectId) return;
    throw new ForbiddenError(message);
  }

  /**
   * The prelude of every image write: writable context, the image loaded for the caller, the
   * rule enforced (403, or 404 for an image the caller may not see), and the owner check.
   */
  async loadForWrite(context: RequestContext, id: string, rule: string, denied: string, notOwner?: string): Promise<LoadedImage> {
    this.requireWritable(context);
    const loaded = await this.load(context, id);
    this.authorize(context, rule, loaded, denied);
    this.requireOwner(context, loaded, notOwner);
    return loaded;
  }

  /** Anonymous contexts are read-only (reference §1.6). */
  requireWritable(context: RequestContext): void {
    if (context.readOnly) throw new ForbiddenError('Read-only access');
  }

  enforceGlobal(context: RequestContext, rule: string, target: Readonly<Record<string, unknown>>): boolean {
    return this.policy.enforce(rule, target, policyCredentials(context));
  }
}
