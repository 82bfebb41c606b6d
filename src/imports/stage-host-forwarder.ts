import type { RequestContext } from '../auth/request-context.js';
import {
  BadGatewayError,
  ConflictError,
  DomainError,
  ForbiddenError,
  GatewayTimeoutError,
  InvalidInputError,
  NotFoundError,
  QuotaExceededError,
  ServiceUnavailableError,
  UnauthenticatedError,
} from '../errors/domain-errors.js';

/** Glance's wait for the node holding the staged data (reference §9.6). */
const FORWARD_TIMEOUT_MS = 60_000;

/** What the stage host answered: its status and its request id, which replaces ours. */
export interface ForwardedAnswer {
  readonly status: number;
  readonly requestId: string | null;
}

/** The remote's refusal as the same kind of answer here (reference §9.6: same status, its reason). */
function remoteError(status: number, reason: string): DomainError {
  const message = reason === '' ? `The stage host answered ${status}` : reason;
  switch (status) {
    case 400:
      return new InvalidInputError(message);
    case 401:
      return new UnauthenticatedError(message);
    case 403:
      return new ForbiddenError(message);
    case 404:
      return new NotFoundError(message);
    case 409:
      return new ConflictError(message);
    case 413:
      return new QuotaExceededError(message);
    case 503:
      return new ServiceUnavailableError(message);
    default:
      return new BadGatewayError(`The stage host answered ${status}: ${message}`);
  }
}

/** The message of an error body in any of Glance's shapes (JSON, or text/HTML). */
function reasonOf(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: { message?: unknown } };
    const message = body.message ?? body.error?.message;
    if (typeof message === 'string') return message;
  } catch {
    // Not JSON: Glance's plain-text and HTML error bodies.
  }
  return text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 500);
}

/**
 * Distributed staging (reference §9.6): a glance-direct import or a delete that reaches a node
 * other than the one whose staging holds the data is replayed to that node, with the caller's
 * token, so that node does it. Unreachable or too slow is 504 "Stage host is unavailable"; any
 * other failure of the request 502; a refusal by the stage host is answered here the same way.
 */
export class StageHostForwarder {
  constructor(private readonly timeoutMs = FORWARD_TIMEOUT_MS) {}

  async forward(
    stageHost: string,
    method: 'POST' | 'DELETE',
    path: string,
    context: RequestContext,
    body: unknown,
    storeHeader: string | null,
  ): Promise<ForwardedAnswer> {
    let response: Response;
    try {
      response = await fetch(`${stageHost.replace(/\/+$/, '')}${path}`, {
        method,
        headers: {
          ...(context.authToken === null ? {} : { 'x-auth-token': context.authToken }),
          'x-openstack-request-id': context.requestId,
          ...(storeHeader === null ? {} : { 'x-image-meta-store': storeHeader }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'manual',
      });
    } catch (error) {
      const cause = error instanceof Error ? (error.cause ?? error) : error;
      const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
      if (
        error instanceof Error &&
        (error.name === 'TimeoutError' || ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT'].includes(code))
      ) {
        throw new GatewayTimeoutError('Stage host is unavailable', { cause: error });
      }
      throw new BadGatewayError(`The request to the stage host failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const text = await response.text().catch(() => '');
    if (response.status < 200 || response.status >= 300) throw remoteError(response.status, reasonOf(text));
    return { status: response.status, requestId: response.headers.get('x-openstack-request-id') };
  }
}
