import type { RequestContext } from '../auth/request-context.js';
import type { Image, ImageMember } from './image-types.js';

/** Who caused an event, as notifications report it. */
export interface EventActor {
  readonly requestId: string;
  readonly userId: string | null;
  readonly projectId: string | null;
}

export function actorOf(context: RequestContext): EventActor {
  return { requestId: context.requestId, userId: context.userId, projectId: context.projectId };
}

/**
 * What the image services report through their EventSink (src/ports/events.ts). Each names the
 * moment Glance sends the matching notification (reference §17): created (image.create), updated
 * (image.update: PATCH, tags, deactivate, reactivate), uploading (image.prepare: before the bytes
 * go to a store), uploaded (image.upload) or upload failed (image.upload at ERROR), activated
 * (image.activate), deleted (image.delete), and member changes (image.member.*). The image is
 * the state after the change. A download sent (image.send) says how many of the expected bytes
 * the connection took, as the transfer code counted them (src/transfer).
 */
export type ImageEvent =
  | { readonly type: 'image.created' | 'image.updated' | 'image.activated' | 'image.deleted'; readonly actor: EventActor; readonly image: Image }
  | { readonly type: 'image.uploading'; readonly actor: EventActor; readonly image: Image; readonly storeId: string }
  | { readonly type: 'image.uploaded'; readonly actor: EventActor; readonly image: Image; readonly storeId: string; readonly bytes: number }
  | { readonly type: 'image.sent'; readonly actor: EventActor; readonly image: Image; readonly bytes: number; readonly expected: number }
  | { readonly type: 'image.upload_failed'; readonly actor: EventActor; readonly imageId: string; readonly reason: string }
  | { readonly type: 'member.created' | 'member.updated' | 'member.deleted'; readonly actor: EventActor; readonly member: ImageMember };
