/**
 * Domain errors: every failure the services report is one of these classes, each with a stable
 * `code`. The services know nothing of HTTP; `src/http/error-mapping.ts` is the one place that
 * turns a code into a status and Glance's error body (reference §1.4).
 *
 * `placement` mirrors where Glance puts its text: raised with `explanation=` the message replaces
 * the class's default text; raised positionally it lands in the "detail" part after the default
 * text. Clients key on the status, but the CLI prints the body, so we keep Glance's layout.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_ACCEPTABLE'
  | 'CONFLICT'
  | 'GONE'
  | 'QUOTA_EXCEEDED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RANGE_NOT_SATISFIABLE'
  | 'HEADER_TOO_LARGE'
  | 'SERVICE_UNAVAILABLE'
  | 'BAD_GATEWAY'
  | 'GATEWAY_TIMEOUT';

export type MessagePlacement = 'explanation' | 'detail';

export interface DomainErrorOptions {
  /** Where the message goes in Glance's body; see the file comment. */
  readonly placement?: MessagePlacement;
  /** Extra response headers this error requires (Allow, Accept-Patch, WWW-Authenticate). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  readonly placement: MessagePlacement;
  readonly headers: Readonly<Record<string, string>>;

  constructor(message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.placement = options.placement ?? 'explanation';
    this.headers = options.headers ?? {};
  }
}

/** Malformed or invalid input: schema violations, bad filters, bad JSON. */
export class InvalidInputError extends DomainError {
  readonly code = 'BAD_REQUEST';
}

/** No valid credentials. */
export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
}

/** Authenticated, but policy, ownership or a reserved attribute forbids the action. */
export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
}

/** The thing does not exist, or the caller may not know it exists (reference §2.3). */
export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
}

export class MethodNotAllowedError extends DomainError {
  readonly code = 'METHOD_NOT_ALLOWED';
  constructor(allowed: readonly string[], message = 'The method is not allowed for this resource.') {
    super(message, { headers: { Allow: allowed.join(', ') } });
  }
}

export class NotAcceptableError extends DomainError {
  readonly code = 'NOT_ACCEPTABLE';
}

/** The request conflicts with the current state: duplicates, status transitions, missing properties. */
export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
}

/** The target vanished while we worked on it (an image deleted during upload). */
export class GoneError extends DomainError {
  readonly code = 'GONE';
}

/** A quota or size limit (Glance answers these with 413, reference §13.1). */
export class QuotaExceededError extends DomainError {
  readonly code = 'QUOTA_EXCEEDED';
}

export class UnsupportedMediaTypeError extends DomainError {
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
}

export class RangeNotSatisfiableError extends DomainError {
  readonly code = 'RANGE_NOT_SATISFIABLE';
}

/** A request header over its limit, e.g. an over-long X-Openstack-Request-ID (reference §1.5). */
export class HeaderTooLargeError extends DomainError {
  readonly code = 'HEADER_TOO_LARGE';
}

export class ServiceUnavailableError extends DomainError {
  readonly code = 'SERVICE_UNAVAILABLE';
}

/** Another node this request was forwarded to answered with nonsense or failed (reference §9.6). */
export class BadGatewayError extends DomainError {
  readonly code = 'BAD_GATEWAY';
}

/** Another node this request had to be forwarded to could not be reached in time (reference §9.6). */
export class GatewayTimeoutError extends DomainError {
  readonly code = 'GATEWAY_TIMEOUT';
}
