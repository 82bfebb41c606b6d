import type { FastifyReply, FastifyRequest } from 'fastify';
import { HeaderTooLargeError, UnauthenticatedError } from '../errors/domain-errors.js';
import type { Authenticator } from './authenticator.js';
import { policyCredentials, type RequestContext } from './request-context.js';

export interface AuthenticationOptions {
  readonly authenticator: Authenticator;
  /** Evaluates `context_is_admin` for the new context (reference §16.1). */
  readonly isAdmin: (credentials: ReturnType<typeof policyCredentials>) => boolean;
  /** `max_request_id_length` (reference §1.5); 0 disables the check. */
  readonly maxRequestIdLength: number;
  /** `allow_anonymous_access`: no token gives a read-only context instead of 401. */
  readonly allowAnonymous: boolean;
  readonly baseUrl: (request: FastifyRequest) => string;
}

/**
 * Builds the request context before any /v2 handler runs. A caller-supplied request id is honoured
 * only after authentication, and an over-long one is refused with 431 (Glance's 500 there is a
 * bug, reference §1.4).
 */
export function authenticationHook(options: AuthenticationOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = request.headers['x-auth-token'];
    const tokenText = Array.isArray(token) ? token[0] : token;
    const identity = tokenText === undefined || tokenText === '' ? null : await options.authenticator.validate(tokenText);
    if (identity === null && !(options.allowAnonymous && tokenText === undefined)) {
      throw new UnauthenticatedError('The request you have made requires authentication.', {
        headers: { 'WWW-Authenticate': `Keystone uri="${options.authenticator.wwwAuthenticateUri(options.baseUrl(request))}"` },
      });
    }
    // A service token (X-Service-Token, sent by services acting for a user) adds its roles as
    // service roles, as keystonemiddleware's X-Service-Roles; an invalid one is refused.
    const service = request.headers['x-service-token'];
    const serviceText = Array.isArray(service) ? service[0] : service;
    const serviceIdentity = serviceText === undefined || serviceText === '' || identity === null ? null : await options.authenticator.validate(serviceText);
    if (serviceText !== undefined && serviceText !== '' && identity !== null && serviceIdentity === null) {
      throw new UnauthenticatedError('The request you have made requires authentication.', {
        headers: { 'WWW-Authenticate': `Keystone uri="${options.authenticator.wwwAuthenticateUri(options.baseUrl(request))}"` },
      });
    }
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
      projectId: identity?.projectId ?? null,
      roles: identity?.roles.map((r) => r.toLowerCase()) ?? [],
      serviceRoles: serviceIdentity?.roles.map((r) => r.toLowerCase()) ?? [],
      authToken: identity === null ? null : (tokenText ?? null),
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
