import type { RequestContext } from '../auth/request-context.js';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError, QuotaExceededError } from '../errors/domain-errors.js';
import type { ImageAccess, LoadedImage } from './image-access.js';
import type { ImageRepository } from './image-repository.js';
import { assertNoNul } from './image-service.js';
import { MEMBER_STATUSES, type ImageMember, type MemberStatus } from './image-types.js';
import { actorOf, type ImageEvent } from './image-events.js';
import type { EventSink } from '../ports/events.js';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Image members (reference §5.3): the owner shares a `shared` image with another project, which
 * then accepts or rejects it. Only the owner (or an admin) adds and removes members; only the
 * member itself (or an admin) changes its status.
 */
export interface MemberServiceDeps {
  readonly repo: ImageRepository;
  readonly access: ImageAccess;
  /** `image_member_quota`; negative means unlimited. */
  readonly memberQuota: number;
  readonly events: EventSink<ImageEvent>;
}

export class MemberService {
  private readonly repo: ImageRepository;
  private readonly access: ImageAccess;
  private readonly memberQuota: number;
  private readonly events: EventSink<ImageEvent>;

  constructor(deps: MemberServiceDeps) {
    ({ repo: this.repo, access: this.access, memberQuota: this.memberQuota, events: this.events } = deps);
  }

  private isOwner(context: RequestContext, loaded: LoadedImage): boolean {
    return loaded.image.owner !== null && loaded.image.owner === context.projectId;
  }

  private memberTarget(context: RequestContext, loaded: LoadedImage, memberId: string | null): Record<string, unknown> {
    return { ...this.access.target(context, loaded), member_id: memberId };
  }

  async list(context: RequestContext, imageId: string): Promise<ImageMember[]> {
    const loaded = await this.access.load(context, imageId);
    if (loaded.image.visibility !== 'shared') {
      throw new ForbiddenError(`Not allowed to list members for image ${imageId}: Only shared images have members.`);
    }
    if (!this.access.enforceGlobal(context, 'get_members', this.memberTarget(context, loaded, context.projectId))) {
      throw new ForbiddenError(`You are not authorized to complete get_members action.`);
    }
    const members = await this.repo.listMembers(imageId);
    // A member sees only its own row.
    if (context.isAdmin || this.isOwner(context, loaded)) return members;
    return members.filter((m) => m.memberId === context.projectId);
  }

  async add(context: RequestContext, imageId: string, body: unknown): Promise<ImageMember> {
    this.access.requireWritable(context);
    const loaded = await this.access.load(context, imageId);
    const denied = `Not allowed to create members for image ${imageId}.`;
    if (!isObject(body)) throw new InvalidInputError('Expected a member in the form: {"member": "image_id"}');
    if (!('member' in body)) throw new InvalidInputError('Member to be added not specified');
    const memberId = body['member'];
    if (typeof memberId !== 'string') throw new InvalidInputError('Expected a member in the form: {"member": "image_id"}');
    if (memberId.trim() === '') throw new InvalidInputError("Member can't be empty");
    if (memberId.length > 255) throw new InvalidInputError('Member ID must not be longer than 255 characters.');
    assertNoNul(memberId, 'Member IDs');
    if (!this.access.enforceGlobal(context, 'add_member', this.memberTarget(context, loaded, memberId))) throw new ForbiddenError(denied);
    this.access.requireOwner(context, loaded, denied);
    if (loaded.image.visibility !== 'shared') throw new ForbiddenError(`${denied} Only shared images have members.`);
    const outcome = await this.repo.addMember(imageId, memberId, this.memberQuota);
    if (outcome === 'duplicate') throw new ConflictError(`Member ${memberId} is duplicated for image ${imageId}`);
    if (outcome !== 'added') {
      throw new QuotaExceededError(
        `Image member limit exceeded for image ${imageId}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${outcome.over}, Maximum: ${this.memberQuota}`,
      );
    }
    const member = await this.requireMember(imageId, memberId);
    this.events.emit({ type: 'member.created', actor: actorOf(context), member });
    return member;
  }

  async get(context: RequestContext, imageId: string, memberId: string): Promise<ImageMember> {
    const loaded = await this.access.load(context, imageId);
    const visible = context.isAdmin || this.isOwner(context, loaded) || memberId === context.projectId;
    // Forbidden is masked as 404 here (reference §5.3).
    if (loaded.image.visibility !== 'shared' || !visible) throw this.memberNotFound(imageId, memberId);
    if (!this.access.enforceGlobal(context, 'get_member', this.memberTarget(context, loaded, memberId))) throw this.memberNotFound(imageId, memberId);
    return this.requireMember(imageId, memberId);
  }

  async updateStatus(context: RequestContext, imageId: string, memberId: string, body: unknown): Promise<ImageMember> {
    this.access.requireWritable(context);
    const loaded = await this.access.load(context, imageId);
    if (!isObject(body) || !('status' in body)) throw new InvalidInputError('Status not specified');
    const status = MEMBER_STATUSES.find((s): s is MemberStatus => s === body['status']);
    if (status === undefined) throw new InvalidInputError('Incorrect request: Status must be "pending", "accepted" or "rejected".');
    if (!context.isAdmin && memberId !== context.projectId) {
      // The owner may not decide for its members; anyone else learns nothing.
      if (this.isOwner(context, loaded)) throw new ForbiddenError(`Not allowed to update members for image ${imageId}.`);
      throw this.memberNotFound(imageId, memberId);
    }
    if (!this.access.enforceGlobal(context, 'modify_member', this.memberTarget(context, loaded, memberId))) {
      throw new ForbiddenError(`Not allowed to update members for image ${imageId}.`);
    }
    if (!(await this.repo.updateMemberStatus(imageId, memberId, status))) throw this.memberNotFound(imageId, memberId);
    const member = await this.requireMember(imageId, memberId);
    this.events.emit({ type: 'member.updated', actor: actorOf(context), member });
    return member;
  }

  async remove(context: RequestContext, imageId: string, memberId: string): Promise<void> {
    this.access.requireWritable(context);
    const loaded = await this.access.load(context, imageId);
    const denied = `Not allowed to delete members for image ${imageId}.`;
    if (!context.isAdmin && !this.isOwner(context, loaded)) {
      if (memberId === context.projectId) throw new ForbiddenError(denied);
      throw this.memberNotFound(imageId, memberId);
    }
    if (!this.access.enforceGlobal(context, 'delete_member', this.memberTarget(context, loaded, memberId))) throw new ForbiddenError(denied);
    const member = await this.requireMember(imageId, memberId);
    if (!(await this.repo.deleteMember(imageId, memberId))) throw this.memberNotFound(imageId, memberId);
    this.events.emit({ type: 'member.deleted', actor: actorOf(context), member });
  }

  private async requireMember(imageId: string, memberId: string): Promise<ImageMember> {
    const member = await this.repo.findMember(imageId, memberId);
    if (member === null) throw this.memberNotFound(imageId, memberId);
    return member;
  }

  private memberNotFound(imageId: string, memberId: string): NotFoundError {
    return new NotFoundError(`${memberId} is not a member of image ${imageId}`);
  }
}
