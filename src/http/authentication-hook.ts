import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/authenticator.js';
import { policyCredentials, scopeFields, type ContextCredentials, type RequestContext } from '../auth/request-context.js';
import { HeaderTooLargeError, UnauthenticatedError } from '../errors/domain-errors.js';

export interface AuthenticationOptions {
  readonly authenticator: Authenticator;
  /** Evaluates `context_is_admin` for the new context (reference §16.1). */
  readonly isAdmin: (credentials: ContextCredentials) => boolean;
  /** `max_request_id_length` (reference §1.5); 0 disables the check. */
  readonly maxRequestIdLength: number;
  /** `allow_anonymous_access`: no token gives a read-only context instead of 401. */
  readonly allowAnonymous: boolean;
  readonly baseUrl: (request: FastifyRequest) => string;
}

/** A header's first value, trimmed (keystonemiddleware strips tokens); undefined when absent or empty. */
function headerText(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  return text === undefined || text === '' ? undefined : text;
}

/**
 * Builds the request context before any /v2 handler runs. A caller-supplied request id is honoured
 * only after authentication, and an over-long one is refused with 431 (Glance's 500 there is a
 * bug, reference §1.4).
 */
export function authenticationHook(options: AuthenticationOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const refuse = (): UnauthenticatedError =>
      new UnauthenticatedError('The request you have made requires authentication.', {
        headers: { 'WWW-Authenticate': `Keystone uri="${options.authenticator.wwwAuthenticateUri(options.baseUrl(request))}"` },
      });
    const tokenText = headerText(request, 'x-auth-token');
    // A service token (X-Service-Token, sent by services acting for a user) is checked first, as
    // keystonemiddleware does: its roles become service roles (X-Service-Roles), and one with a
    // service role lets the user's token be expired. An invalid one is refused rather than
    // ignored (Glance ignores it), so a misconfigured service finds out at once.
    const serviceText = tokenText === undefined ? undefined : headerText(request, 'x-service-token');
    const service = serviceText === undefined ? null : await options.authenticator.checkServiceToken(serviceText);
    if (serviceText !== undefined && service === null) throw refuse();
    const identity = tokenText === undefined ? null : await options.authenticator.validate(tokenText, { allowExpired: service?.vouchesForExpired === true });
    if (identity === null && !(options.allowAnonymous && request.headers['x-auth-token'] === undefined)) throw refuse();
    const incoming = request.headers['x-openstack-request-id'];
    const incomingId = Array.isArray(incoming) ? incoming[0] : incoming;
    let requestId = request.id;
    if (incomingId !== undefined && incomingId !== '') {
      if (options.maxRequestIdLength > 0 && incomingId.length > options.maxRequestIdLength) {
        throw new HeaderTooLargeError(`Request ID ${incomingId.slice(0, 20)}... is longer than the allowed ${options.maxRequestIdLength} characters.`);
      }
      requestId = incomingId.startsWith('req-') ? incomingId : `req-${incomingId}`;
      void reply.header('x-openstack-request-id', requestId);
    }
    const base = {
      requestId,
      userId: identity?.userId ?? null,
      ...scopeFields(identity?.scope ?? null),
      isAdminProject: identity?.isAdminProject ?? true,
      roles: identity?.roles.map((r) => r.toLowerCase()) ?? [],
      serviceRoles: service?.identity.roles.map((r) => r.toLowerCase()) ?? [],
      authToken: identity === null ? null : (tokenText ?? null),
      serviceCatalog: identity?.catalog ?? [],
      readOnly: identity === null,
    };
    const context: RequestContext = { ...base, isAdmin: options.isAdmin(policyCredentials({ ...base, isAdmin: false })) };
    request.authContext = context;
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    authContext: RequestContext | null;
  }
}

/** The context the hook built; routes under /v2 always have one. */
export function contextOf(request: FastifyRequest): RequestContext {
  if (request.authContext === null) throw new UnauthenticatedError('The request you have made requires authentication.');
  return request.authContext;
}
