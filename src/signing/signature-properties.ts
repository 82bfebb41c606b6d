import { SignatureError } from './signature-errors.js';

/** The signature properties of an image (reference §7). */
export const SIGNATURE_PROPERTIES = ['img_signature', 'img_signature_hash_method', 'img_signature_key_type', 'img_signature_certificate_uuid'] as const;

/** `img_signature_hash_method` → node:crypto digest name. */
export const HASH_METHODS: Readonly<Record<string, string>> = { 'SHA-224': 'sha224', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/** `img_signature_key_type` → the public key it needs (and, for ECC, the curve). */
export const KEY_TYPES: Readonly<Record<string, { readonly keyType: 'rsa' | 'dsa' | 'ec'; readonly curve?: string }>> = {
  'RSA-PSS': { keyType: 'rsa' },
  DSA: { keyType: 'dsa' },
  ECC_SECT571K1: { keyType: 'ec', curve: 'sect571k1' },
  ECC_SECT409K1: { keyType: 'ec', curve: 'sect409k1' },
  ECC_SECT571R1: { keyType: 'ec', curve: 'sect571r1' },
  ECC_SECT409R1: { keyType: 'ec', curve: 'sect409r1' },
  ECC_SECP521R1: { keyType: 'ec', curve: 'secp521r1' },
  ECC_SECP384R1: { keyType: 'ec', curve: 'secp384r1' },
};

export interface SignatureRequest {
  readonly signature: Buffer;
  /** node:crypto digest name. */
  readonly digest: string;
  readonly keyTypeName: string;
  readonly certificateId: string;
  /** RSA-PSS salt length; null: recovered from the signature (cursive signs with the maximum). */
  readonly pssSaltLength: number | null;
}

/**
 * The signature request an image's properties make, or null when it has none of them.
 * Only some of the four → an error (Glance skips verification silently then, which lets a typo
 * turn signing off; with `partial = 'ignore'` Glimpse does the same as Glance).
 */
export function signatureRequest(properties: Readonly<Record<string, string>>, partial: 'refuse' | 'ignore' = 'refuse'): SignatureRequest | null {
  const present = SIGNATURE_PROPERTIES.filter((p) => properties[p] !== undefined);
  if (present.length === 0) return null;
  const missing = SIGNATURE_PROPERTIES.find((p) => properties[p] === undefined);
  if (missing !== undefined) {
    if (partial === 'ignore') return null;
    throw new SignatureError(
      'MISSING_PROPERTY',
      `Required image properties for signature verification do not exist. Cannot verify signature. Missing property: ${missing}`,
    );
  }
  const text = properties['img_signature'] ?? '';
  const signature = Buffer.from(text, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text.replace(/\s/g, '')) || signature.length === 0) {
    throw new SignatureError('BAD_SIGNATURE_ENCODING', 'The signature data was not properly encoded using base64');
  }
  const method = properties['img_signature_hash_method'] ?? '';
  const digest = HASH_METHODS[method];
  if (digest === undefined) throw new SignatureError('BAD_HASH_METHOD', `Invalid signature hash method: ${method}`);
  const keyTypeName = properties['img_signature_key_type'] ?? '';
  if (KEY_TYPES[keyTypeName] === undefined) throw new SignatureError('BAD_KEY_TYPE', `Invalid signature key type: ${keyTypeName}`);
  // MGF1 with the signature's hash is the only mask generation function (reference §7).
  const mgf = properties['mask_gen_algorithm'];
  if (mgf !== undefined && mgf !== 'MGF1') throw new SignatureError('BAD_PSS_OPTION', `Invalid mask_gen_algorithm: ${mgf} (only MGF1 is supported)`);
  const salt = properties['pss_salt_length'];
  if (salt !== undefined && !/^\d{1,4}$/.test(salt)) throw new SignatureError('BAD_PSS_OPTION', `Invalid pss_salt_length: ${salt}`);
  return {
    signature,
    digest,
    keyTypeName,
    certificateId: properties['img_signature_certificate_uuid'] ?? '',
    pssSaltLength: salt === undefined ? null : Number(salt),
  };
}
