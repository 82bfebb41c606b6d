/**
 * Single-tenant locations: `swift+config://<reference>/<container>/<object>` (reference §15.1),
 * naming the account by its reference in glance-swift.conf and never by its credentials (Glance
 * writes `swift+https://user:key@…` when the account is configured in glance-api.conf; Glimpse
 * does not, so a location row or an admin's `locations` field never holds a password).
 *
 * Object names: the image id for the image; `<image id>/<write id>/<00001…>` for the segments of
 * a large object, under a write id of their own so that two racing writes never share a segment
 * and a crashed write's segments are found by their prefix.
 */
export const IMAGE_OBJECT = /^[0-9A-Za-z][0-9A-Za-z-]{0,63}$/;
export const SEGMENT_OBJECT = /^([0-9A-Za-z][0-9A-Za-z-]{0,63})\/([0-9a-f]{16})\/(\d{5,})$/;
/** A crashed write's segments, as one object of the store listing: `<image id>/<write id>/`. */
export const SEGMENT_GROUP = /^([0-9A-Za-z][0-9A-Za-z-]{0,63})\/([0-9a-f]{16})\/$/;

export interface SwiftLocation {
  readonly reference: string;
  readonly container: string;
  /** An image object, or a segment group (`<id>/<write id>/`). */
  readonly object: string;
}

export function formatLocation(location: SwiftLocation): string {
  return `swift+config://${location.reference}/${location.container}/${location.object}`;
}

/** The parts of a swift+config location, or null when it is not one. */
export function parseLocation(url: string): SwiftLocation | null {
  const match = /^swift\+config:\/\/([^/@:]+)\/([^/]+)\/(.+)$/.exec(url);
  if (match === null) return null;
  const [, reference = '', container = '', object = ''] = match;
  if (!IMAGE_OBJECT.test(object) && !SEGMENT_GROUP.test(object)) return null;
  if (!/^[A-Za-z0-9_.-]+$/.test(container)) return null;
  return { reference, container, object };
}

/** The segment name of part `n` (1-based) of a write: five digits, as Glance numbers its segments. */
export function segmentName(imageId: string, writeId: string, n: number): string {
  return `${imageId}/${writeId}/${String(n).padStart(5, '0')}`;
}
