import { X509Certificate, type KeyObject } from 'node:crypto';
import { SignatureError } from './signature-errors.js';
import { KEY_TYPES } from './signature-properties.js';

/** DER of the keyUsage extension's OID, 2.5.29.15 (RFC 5280 §4.2.1.3). */
const KEY_USAGE_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0f]);

/** A DER length at `at`; null when it does not fit in the buffer. */
function derLength(der: Buffer, at: number): { length: number; next: number } | null {
  const first = der[at];
  if (first === undefined) return null;
  if (first < 0x80) return { length: first, next: at + 1 };
  const count = first & 0x7f;
  if (count === 0 || count > 3 || at + 1 + count > der.length) return null;
  let length = 0;
  for (let i = 0; i < count; i += 1) length = length * 256 + (der[at + 1 + i] ?? 0);
  return { length, next: at + 1 + count };
}

/**
 * Whether the certificate's keyUsage extension allows digitalSignature: true or false when the
 * extension is present, null when it is absent (any use allowed, RFC 5280). Node exposes only
 * extended key usage, so the extension is read from the DER here.
 */
export function allowsDigitalSignature(der: Buffer): boolean | null {
  const at = der.indexOf(KEY_USAGE_OID);
  if (at === -1) return null;
  let next = at + KEY_USAGE_OID.length;
  // Optional `critical BOOLEAN`.
  if (der[next] === 0x01) {
    const len = derLength(der, next + 1);
    if (len === null) return false;
    next = len.next + len.length;
  }
  if (der[next] !== 0x04) return false;
  const octets = derLength(der, next + 1);
  if (octets === null || der[octets.next] !== 0x03) return false;
  const bits = derLength(der, octets.next + 1);
  if (bits === null || bits.length < 2 || bits.next + bits.length > der.length) return false;
  // The first content byte counts unused bits; digitalSignature is the first named bit (0x80).
  return ((der[bits.next + 1] ?? 0) & 0x80) !== 0;
}

/** Parses a certificate given as DER or PEM (what a key manager may hold). */
export function parseCertificate(bytes: Buffer): X509Certificate {
  try {
    return new X509Certificate(bytes);
  } catch {
    throw new SignatureError('BAD_CERTIFICATE', 'Invalid certificate format: the key manager secret is not an X.509 certificate');
  }
}

/**
 * The checks Glance leaves out (reference §7: it verifies no dates, usage or chain): validity
 * now, a key usage that allows signatures, a public key of the declared type and curve, and,
 * when trust anchors are configured, issuance by one of them. Returns the key to verify with.
 */
export function checkCertificate(
  certificate: X509Certificate,
  keyTypeName: string,
  options: { readonly now: Date; readonly trustedCas: readonly X509Certificate[] | null },
): KeyObject {
  if (options.now < new Date(certificate.validFrom)) {
    throw new SignatureError('CERTIFICATE_NOT_YET_VALID', `The signing certificate is not valid before ${certificate.validFrom}`);
  }
  if (options.now > new Date(certificate.validTo)) {
    throw new SignatureError('CERTIFICATE_EXPIRED', `The signing certificate expired on ${certificate.validTo}`);
  }
  if (allowsDigitalSignature(certificate.raw) === false) {
    throw new SignatureError('CERTIFICATE_KEY_USAGE', "The signing certificate's key usage does not allow digital signatures");
  }
  const expected = KEY_TYPES[keyTypeName];
  const key = certificate.publicKey;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const keyType = key.asymmetricKeyType === 'rsa-pss' ? 'rsa' : key.asymmetricKeyType;
  if (expected === undefined || keyType !== expected.keyType || (expected.curve !== undefined && curve !== expected.curve)) {
    throw new SignatureError('CERTIFICATE_KEY_TYPE', `Invalid public key type for signature key type: ${keyTypeName}`);
  }
  if (options.trustedCas !== null && !options.trustedCas.some((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey))) {
    throw new SignatureError(
      'CERTIFICATE_UNTRUSTED',
      'The signing certificate is not issued by a trusted certificate authority ([image_signature_verification] trusted_ca_file)',
    );
  }
  return key;
}
