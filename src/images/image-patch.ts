import { InvalidInputError, UnsupportedMediaTypeError } from '../errors/domain-errors.js';

/**
 * Parses a `PATCH /v2/images/{id}` body into operations (reference §2.5). Two media types exist:
 * v2.1 is RFC 6902 style (`{"op": "add", "path": "/x", "value": 1}`), v2.0 is the older draft-04
 * style (`{"add": "/x", "value": 1}`). Semantics are applied by the image service.
 */

export const PATCH_MEDIA_TYPES = ['application/openstack-images-v2.0-json-patch', 'application/openstack-images-v2.1-json-patch'] as const;
export type PatchStyle = 'v2.0' | 'v2.1';
export type PatchOp = 'add' | 'remove' | 'replace';

export interface PatchOperation {
  readonly op: PatchOp;
  /** The decoded pointer segments; one for every path except `/locations/<n>`. */
  readonly path: readonly string[];
  /** Present for add and replace. */
  readonly value: unknown;
}

const OPS: readonly PatchOp[] = ['add', 'remove', 'replace'];

/** Picks the patch style from the request's media type, or refuses it with 415 + Accept-Patch. */
export function patchStyleFor(contentType: string | undefined): PatchStyle {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType === PATCH_MEDIA_TYPES[0]) return 'v2.0';
  if (mediaType === PATCH_MEDIA_TYPES[1]) return 'v2.1';
  throw new UnsupportedMediaTypeError(`Unsupported Content-Type ${contentType ?? 'None'}`, {
    headers: { 'Accept-Patch': PATCH_MEDIA_TYPES.join(', ') },
  });
}

/** RFC 6901 pointer rules, with Glance's messages. */
export function decodePointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw new InvalidInputError(`Pointer \`${pointer}\` does not start with "/".`);
  if (pointer === '/' || pointer.endsWith('/') || pointer.includes('//')) {
    throw new InvalidInputError(`Pointer \`${pointer}\` contains adjacent "/".`);
  }
  if (/~(?![01])/.test(pointer)) throw new InvalidInputError(`Pointer \`${pointer}\` contains "~" not part of a recognized escape sequence.`);
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readOperation(raw: Record<string, unknown>, style: PatchStyle): { op: PatchOp; pointer: unknown } {
  if (style === 'v2.1') {
    if (!('op' in raw)) {
      throw new InvalidInputError(`Unable to find \`op\` in JSON Schema change. It must be one of the following: ${OPS.join(', ')}.`);
    }
    const op = OPS.find((o) => o === raw['op']);
    if (op === undefined) {
      throw new InvalidInputError(`Invalid operation: \`${String(raw['op'])}\`. It must be one of the following: ${OPS.join(', ')}.`);
    }
    if (!('path' in raw)) throw new InvalidInputError("Unable to find 'path' in JSON Schema change");
    return { op, pointer: raw['path'] };
  }
  const present = OPS.filter((o) => o in raw);
  if (present.length === 0) {
    throw new InvalidInputError('Operation objects must contain exactly one member named "add", "remove", or "replace".');
  }
  if (present.length > 1) {
    throw new InvalidInputError('Operation objects must contain only one member named "add", "remove", or "replace".');
  }
  const op = present[0] ?? 'add';
  return { op, pointer: raw[op] };
}

export function parsePatch(body: unknown, style: PatchStyle): PatchOperation[] {
  if (!Array.isArray(body)) throw new InvalidInputError('Request body must be a JSON array of operation objects.');
  return body.map((raw: unknown) => {
    if (!isObject(raw)) throw new InvalidInputError('Operations must be JSON objects.');
    const { op, pointer } = readOperation(raw, style);
    if (typeof pointer !== 'string') throw new InvalidInputError(`Pointer \`${JSON.stringify(pointer)}\` does not start with "/".`);
    const path = decodePointer(pointer);
    // Only /locations/<n|-> may be two levels deep; so /tags/- is refused (reference §2.5).
    const isLocationItem = path.length === 2 && path[0] === 'locations' && op !== 'replace';
    if (path.length !== 1 && !isLocationItem) throw new InvalidInputError(`Invalid JSON pointer for this resource: '${pointer}'`);
    if (op !== 'remove' && !('value' in raw)) throw new InvalidInputError(`Operation "${op}" requires a member named "value".`);
    return { op, path, value: op === 'remove' ? undefined : raw['value'] };
  });
}
