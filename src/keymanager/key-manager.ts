import type { RequestContext } from '../auth/request-context.js';

/**
 * Where image-signing certificates come from (reference §7: castellan's `get(context, uuid)`
 * with the caller's token). Two implementations: the embedded key manager and Barbican.
 */
export interface KeyManager {
  /** The certificate's bytes (DER or PEM) stored under `id`, as the caller may read it. */
  getCertificate(context: RequestContext, id: string): Promise<Buffer>;
}

/** No secret with this id is visible to the caller (reference §7 message). */
export class CertificateNotFoundError extends Error {
  override readonly name = 'CertificateNotFoundError';
  constructor(id: string) {
    super(`Certificate not found with ID: ${id}`);
  }
}

/** The key manager could not be asked, or answered something unusable (reference §7 messages). */
export class CertificateRetrievalError extends Error {
  override readonly name = 'CertificateRetrievalError';
}
