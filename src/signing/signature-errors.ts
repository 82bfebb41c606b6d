/** Why a signature could not be verified; the upload answers 400 with the message (reference §7). */
export type SignatureErrorCode =
  | 'MISSING_PROPERTY'
  | 'BAD_SIGNATURE_ENCODING'
  | 'BAD_HASH_METHOD'
  | 'BAD_KEY_TYPE'
  | 'BAD_PSS_OPTION'
  | 'CERTIFICATE_NOT_FOUND'
  | 'CERTIFICATE_UNAVAILABLE'
  | 'BAD_CERTIFICATE'
  | 'CERTIFICATE_NOT_YET_VALID'
  | 'CERTIFICATE_EXPIRED'
  | 'CERTIFICATE_KEY_USAGE'
  | 'CERTIFICATE_KEY_TYPE'
  | 'CERTIFICATE_UNTRUSTED'
  | 'SIGNATURE_MISMATCH';

export class SignatureError extends Error {
  override readonly name = 'SignatureError';

  constructor(
    readonly code: SignatureErrorCode,
    message: string,
  ) {
    super(message);
  }
}
