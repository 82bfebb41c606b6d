import type { RequestContext } from '../../auth/request-context.js';
import { NotFoundError } from '../../errors/domain-errors.js';
import { CertificateNotFoundError, CertificateRetrievalError, type KeyManager } from '../key-manager.js';
import type { SecretService } from './secret-service.js';

/** Certificates from the embedded key manager, with the caller's project ownership rules. */
export class EmbeddedKeyManager implements KeyManager {
  constructor(private readonly secrets: SecretService) {}

  async getCertificate(context: RequestContext, id: string): Promise<Buffer> {
    try {
      const secret = await this.secrets.get(context, id);
      if (secret.secret_type !== 'certificate')
        throw new CertificateRetrievalError(`Invalid certificate format: secret ${id} is of type ${secret.secret_type}`);
      return (await this.secrets.payload(context, id, '*/*')).bytes;
    } catch (error) {
      if (error instanceof NotFoundError) throw new CertificateNotFoundError(id);
      throw error;
    }
  }
}
