import type { FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { InvalidInputError } from '../errors/domain-errors.js';

/** How long the rest of a refused data body is read and dropped before the connection goes. */
const DISCARD_IDLE_MS = 30_000;

/**
 * After a data body (upload, stage) was refused or failed before its end: the rest is read and
 * dropped, as src/http/socket-body.ts does for the bodies it reads. Node only does this for a
 * body nobody started reading; one that was read from and then left paused keeps its
 * connection forever: the request never ends, a client that already left is never noticed,
 * and a stopping server waits for it.
 */
export function dropUnreadBody(request: IncomingMessage): void {
  if (request.complete || request.destroyed) return;
  request.socket.setTimeout(DISCARD_IDLE_MS, () => request.socket.destroy());
  request.resume();
}

/**
 * Request bodies arrive as raw bytes (Glance does not check Content-Type on JSON routes,
 * reference §2.2), and are decoded here with Glance's rules (reference §1.4 "Other parsing rules").
 */

/** Glance's test for "has a body" (reference §1.4). */
export function hasBody(request: FastifyRequest): boolean {
  const length = Number(request.headers['content-length'] ?? 0);
  if (length > 0) return true;
  const encoding = request.headers['transfer-encoding'];
  return ['POST', 'PUT', 'PATCH'].includes(request.method) && encoding !== undefined && /chunked|compress|deflate|gzip|identity/i.test(encoding);
}

/** Routes that take no body refuse one (reference §1.6). */
export function rejectBody(request: FastifyRequest): void {
  // Fastify does not parse bodies of GET and DELETE, so the headers are what tells (reference §1.4).
  if (hasBody(request)) throw new InvalidInputError('A body is not expected with this request.');
}

function bodyBytes(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

/** The body as JSON: an object or an array, else Glance's 400s. */
export function jsonBody(request: FastifyRequest): unknown {
  const bytes = bodyBytes(request);
  if (bytes.length === 0) throw new InvalidInputError('Body expected in request.');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidInputError('Error decoding your request. Either the URL or the request body contained characters that could not be decoded by Glance');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidInputError('Malformed JSON in request body.');
  }
  if (typeof value !== 'object' || value === null) throw new InvalidInputError('Unexpected body type. Expected list/dict.');
  return value;
}
