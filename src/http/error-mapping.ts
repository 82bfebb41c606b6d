import { DomainError, type ErrorCode } from '../errors/domain-errors.js';
import type { ErrorText } from './error-body.js';

/**
 * The one place that maps domain errors to HTTP: status, title and the class's default
 * explanation, as WebOb words them (reference §1.4 table).
 */
const STATUS: Readonly<Record<ErrorCode, { status: number; title: string; explanation: string }>> = {
  BAD_REQUEST: {
    status: 400,
    title: 'Bad Request',
    explanation: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  },
  UNAUTHENTICATED: {
    status: 401,
    title: 'Unauthorized',
    explanation:
      'This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.',
  },
  FORBIDDEN: { status: 403, title: 'Forbidden', explanation: 'Access was denied to this resource.' },
  NOT_FOUND: { status: 404, title: 'Not Found', explanation: 'The resource could not be found.' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method Not Allowed', explanation: 'The method is not allowed for this resource.' },
  NOT_ACCEPTABLE: { status: 406, title: 'Not Acceptable', explanation: 'The resource could not be generated that was acceptable to your browser.' },
  CONFLICT: { status: 409, title: 'Conflict', explanation: 'There was a conflict when trying to complete your request.' },
  GONE: { status: 410, title: 'Gone', explanation: 'This resource is no longer available.  No forwarding address is given.' },
  QUOTA_EXCEEDED: { status: 413, title: 'Request Entity Too Large', explanation: 'The body of your request was too large for this server.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported Media Type', explanation: 'The request media type is not supported by this server.' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Requested Range Not Satisfiable', explanation: 'The Range requested is not available.' },
  HEADER_TOO_LARGE: { status: 431, title: 'Request Header Fields Too Large', explanation: 'The request header fields were too large.' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service Unavailable', explanation: 'The server is currently unavailable. Please try again at a later time.' },
  BAD_GATEWAY: { status: 502, title: 'Bad Gateway', explanation: 'Bad gateway.' },
  GATEWAY_TIMEOUT: { status: 504, title: 'Gateway Timeout', explanation: 'The gateway has timed out.' },
};

export function domainErrorText(error: DomainError): ErrorText {
  const entry = STATUS[error.code];
  return error.placement === 'explanation'
    ? { status: entry.status, title: entry.title, explanation: error.message, detail: '' }
    : { status: entry.status, title: entry.title, explanation: entry.explanation, detail: error.message };
}

export const INTERNAL_ERROR_TEXT: ErrorText = {
  status: 500,
  title: 'Internal Server Error',
  explanation: 'The server has either erred or is incapable of performing the requested operation.',
  detail: '',
};

export { DomainError };
