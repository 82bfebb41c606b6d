import type { Image, ImageMember } from './image-types.js';

/** Glance renders timestamps with whole seconds and a Z (reference conventions). */
export function formatTimestamp(iso: string): string {
  return `${iso.slice(0, 19)}Z`;
}

/** Extra properties never shown to API users (reference §2.1). */
const HIDDEN_PROPERTIES: ReadonlySet<string> = new Set(['os_glance_stage_host']);

/** The image body of show, list, create and update responses (reference §2.1). */
export function imageView(image: Image): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(image.properties)) {
    if (!HIDDEN_PROPERTIES.has(key)) body[key] = value;
  }
  return Object.assign(body, {
    id: image.id,
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.osHidden,
    checksum: image.checksum,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
    owner: image.owner,
    size: image.size,
    virtual_size: image.virtualSize,
    min_ram: image.minRam,
    min_disk: image.minDisk,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    created_at: formatTimestamp(image.createdAt),
    updated_at: formatTimestamp(image.updatedAt),
    tags: [...image.tags],
    // Only multi-store images carry store ids (reference §2.1 conditional fields).
    ...(image.stores.length > 0 ? { stores: image.stores.join(',') } : {}),
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  });
}

export function memberView(member: ImageMember): Record<string, unknown> {
  return {
    member_id: member.memberId,
    image_id: member.imageId,
    status: member.status,
    created_at: formatTimestamp(member.createdAt),
    updated_at: formatTimestamp(member.updatedAt),
    schema: '/v2/schemas/member',
  };
}
