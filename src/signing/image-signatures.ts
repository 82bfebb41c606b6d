import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RequestContext } from '../auth/request-context.js';
import { InvalidInputError } from '../errors/domain-errors.js';
import { CertificateNotFoundError, CertificateRetrievalError, type KeyManager } from '../keymanager/key-manager.js';
import { checkCertificate, parseCertificate } from './certificate-checks.js';
import { SignatureError } from './signature-errors.js';
import { signatureRequest } from './signature-properties.js';
import { SignatureVerifier } from './signature-verifier.js';

export interface ImageSignatureOptions {
  /** `[image_signature_verification] partial_signature_properties`: refuse (Glimpse) or ignore (Glance). */
  readonly partial: 'refuse' | 'ignore';
  /** Trust anchors from `trusted_ca_file`; null: no chain check (Glance's behaviour). */
  readonly trustedCas: readonly X509Certificate[] | null;
}

/** Reads every PEM certificate of a bundle (`trusted_ca_file`). */
export function loadTrustedCas(file: string): X509Certificate[] {
  const pem = readFileSync(file, 'utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${file} holds no PEM certificate`);
  return blocks.map((block) => new X509Certificate(block));
}

/** Glance's answer to every signature problem on upload (reference §7). */
function refused(imageId: string, message: string): InvalidInputError {
  return new InvalidInputError(`Signature verification failed for image ${imageId}: ${message}`);
}

/**
 * Image signature verification (reference §7) as the data service uses it: before an upload
 * starts, the certificate is fetched with the caller's token and checked; the returned verifier
 * then sees every byte of the upload.
 */
export class ImageSignatures {
  constructor(
    private readonly keyManager: KeyManager,
    private readonly options: ImageSignatureOptions,
  ) {}

  /** For create and update: signature properties that cannot work are refused at once (400). */
  validate(properties: Readonly<Record<string, string>>): void {
    try {
      signatureRequest(properties, this.options.partial);
    } catch (error) {
      if (error instanceof SignatureError) throw new InvalidInputError(error.message);
      throw error;
    }
  }

  /** A verifier for the upload of this image, or null when it is not signed. */
  async verifierFor(
    context: RequestContext,
    image: { readonly id: string; readonly properties: Readonly<Record<string, string>> },
  ): Promise<SignatureVerifier | null> {
    try {
      const request = signatureRequest(image.properties, this.options.partial);
      if (request === null) return null;
      const bytes = await this.keyManager.getCertificate(context, request.certificateId);
      const key = checkCertificate(parseCertificate(bytes), request.keyTypeName, { now: new Date(), trustedCas: this.options.trustedCas });
      return new SignatureVerifier(request, key);
    } catch (error) {
      if (error instanceof SignatureError || error instanceof CertificateNotFoundError || error instanceof CertificateRetrievalError)
        throw refused(image.id, error.message);
      throw error;
    }
  }

  /** After the last byte: throws the 400 Glance gives when the signature does not match. */
  check(imageId: string, verifier: SignatureVerifier): void {
    try {
      verifier.check();
    } catch (error) {
      if (error instanceof SignatureError) throw refused(imageId, error.message);
      throw error;
    }
  }
}
