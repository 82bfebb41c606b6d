import { constants, createVerify, type KeyObject, type Verify } from 'node:crypto';
import { SignatureError } from './signature-errors.js';
import type { SignatureRequest } from './signature-properties.js';

/**
 * Verifies an image signature over the bytes of an upload as they stream, in the same single
 * pass as the write (reference §7). Each chunk is fed to a streaming verifier of the chosen hash;
 * a signature over the digest (cursive's "prehashed") is the same as one over the data.
 */
export class SignatureVerifier {
  private readonly verify: Verify;

  constructor(
    private readonly request: SignatureRequest,
    private readonly key: KeyObject,
  ) {
    this.verify = createVerify(request.digest);
  }

  update(chunk: Uint8Array): void {
    this.verify.update(chunk);
  }

  /** Throws when the signature does not match the bytes seen. */
  check(): void {
    const rsa = this.key.asymmetricKeyType === 'rsa' || this.key.asymmetricKeyType === 'rsa-pss';
    // RSA-PSS uses MGF1 with the signature's hash; the salt length is the property's, or recovered
    // from the signature (cursive signs with the maximum length).
    let ok: boolean;
    try {
      ok = rsa
        ? this.verify.verify(
            { key: this.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: this.request.pssSaltLength ?? constants.RSA_PSS_SALTLEN_AUTO },
            this.request.signature,
          )
        : this.verify.verify({ key: this.key, dsaEncoding: 'der' }, this.request.signature);
    } catch {
      // A signature that is not even well-formed (bad DER, wrong length) simply does not match.
      ok = false;
    }
    if (!ok) throw new SignatureError('SIGNATURE_MISMATCH', 'Signature verification failed');
  }
}
