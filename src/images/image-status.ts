import { ConflictError, InvalidInputError } from '../errors/domain-errors.js';

export const IMAGE_STATUSES = ['queued', 'saving', 'active', 'killed', 'deleted', 'uploading', 'importing', 'pending_delete', 'deactivated'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

/**
 * The image lifecycle, one table (reference §2.9). Every status change in Glimpse is checked
 * against it by `checkTransition` and then applied as a compare-and-set on the stored status
 * (ImageRepository.transitionStatus), so two racing requests cannot both win.
 */
export const STATUS_TRANSITIONS: Readonly<Record<ImageStatus, readonly ImageStatus[]>> = {
  queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
  saving: ['active', 'killed', 'deleted', 'queued'],
  uploading: ['importing', 'queued', 'deleted'],
  importing: ['active', 'deleted', 'queued'],
  active: ['pending_delete', 'deleted', 'deactivated'],
  killed: ['deleted'],
  pending_delete: ['deleted', 'active'],
  // pending_delete from deactivated is Glimpse's: a delete of any image with data goes through
  // pending_delete so that its purge survives a crash (image-service delete).
  deactivated: ['active', 'deleted', 'pending_delete'],
  deleted: [],
};

/** Statuses from which data-bearing states need both formats set (reference §2.9). */
const NEEDS_FORMATS_FROM: ReadonlySet<ImageStatus> = new Set(['queued', 'uploading']);
const DATA_BEARING: ReadonlySet<ImageStatus> = new Set(['saving', 'active', 'importing']);

export function isTransitionAllowed(from: ImageStatus, to: ImageStatus): boolean {
  return STATUS_TRANSITIONS[from].includes(to);
}

/** Throws the error Glance gives for a transition the table forbids, or for missing formats. */
export function checkTransition(
  from: ImageStatus,
  to: ImageStatus,
  formats: { readonly diskFormat: string | null; readonly containerFormat: string | null },
): void {
  if (!isTransitionAllowed(from, to)) {
    throw new ConflictError(`Image status transition from ${from} to ${to} is not allowed`);
  }
  if (NEEDS_FORMATS_FROM.has(from) && DATA_BEARING.has(to)) {
    const missing = [formats.diskFormat === null ? 'disk_format' : null, formats.containerFormat === null ? 'container_format' : null].filter(
      (m): m is string => m !== null,
    );
    if (missing.length === 1) throw new InvalidInputError(`Property ${missing[0] ?? ''} must be set prior to saving data.`);
    if (missing.length === 2) throw new InvalidInputError('Properties disk_format, container_format must be set prior to saving data.');
  }
}
