import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../../auth/request-context.js';
import { ForbiddenError, InvalidInputError, NotAcceptableError, NotFoundError } from '../../errors/domain-errors.js';
import type { SecretCipher } from './secret-cipher.js';
import type { SecretRepository, SecretRow } from './secret-repository.js';

/** Barbican's secret types (Barbican API: secrets). */
const SECRET_TYPES = new Set(['symmetric', 'public', 'private', 'passphrase', 'certificate', 'opaque']);
const OCTET = 'application/octet-stream';
const TEXT = 'text/plain';
/** Roles that may store and delete secrets; readers may only look (README "Key manager"). */
const WRITER_ROLES = new Set(['admin', 'member', 'creator']);
const MAX_PAYLOAD_BYTES = 64 * 1024;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface SecretPayload {
  readonly contentType: string;
  readonly bytes: Buffer;
}

export interface StoredSecret {
  readonly id: string;
  readonly projectId: string;
  readonly secretType: string;
}

function optionalString(body: Record<string, unknown>, key: string): string | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > 255) throw new InvalidInputError(`'${key}' must be a string of at most 255 characters.`);
  return value;
}

/**
 * The embedded key manager: the part of Barbican's secrets API that `openstack secret store`,
 * `secret get`, `secret list` and `secret delete` use, and what signature verification reads a
 * certificate through. Secrets belong to the caller's project; other projects get 404.
 */
export class SecretService {
  constructor(
    private readonly repo: SecretRepository,
    private readonly cipher: SecretCipher,
  ) {}

  async store(context: RequestContext, body: unknown): Promise<StoredSecret> {
    const { projectId, userId } = this.writer(context);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInputError('The request body must be a JSON object.');
    const input = body as Record<string, unknown>;
    const secretType = optionalString(input, 'secret_type') ?? 'opaque';
    if (!SECRET_TYPES.has(secretType)) throw new InvalidInputError(`Invalid secret_type '${secretType}'.`);
    const bitLength = input['bit_length'];
    if (bitLength !== undefined && bitLength !== null && (typeof bitLength !== 'number' || !Number.isSafeInteger(bitLength) || bitLength < 1)) {
      throw new InvalidInputError("'bit_length' must be a positive integer.");
    }
    const expiration = optionalString(input, 'expiration');
    if (expiration !== null && (Number.isNaN(Date.parse(expiration)) || Date.parse(expiration) <= Date.now())) {
      throw new InvalidInputError("'expiration' must be a date in the future.");
    }
    const payload = this.decodePayload(input);
    const id = randomUUID();
    const at = new Date().toISOString();
    await this.repo.insert({
      id,
      project_id: projectId,
      creator_id: userId,
      name: optionalString(input, 'name'),
      secret_type: secretType,
      algorithm: optionalString(input, 'algorithm'),
      bit_length: typeof bitLength === 'number' ? bitLength : null,
      mode: optionalString(input, 'mode'),
      expiration: expiration === null ? null : new Date(expiration).toISOString(),
      content_type: payload.contentType,
      payload: this.cipher.seal(id, payload.bytes),
      created_at: at,
      updated_at: at,
    });
    return { id, projectId, secretType };
  }

  /** The payload as Barbican takes it in a one-step POST: text, or base64 for binary data. */
  private decodePayload(input: Record<string, unknown>): SecretPayload {
    const payload = input['payload'];
    if (payload === undefined || payload === null) throw new InvalidInputError("Two-step secret upload is not supported here; send 'payload' with the POST.");
    if (typeof payload !== 'string' || payload === '') throw new InvalidInputError("'payload' must be a non-empty string.");
    const contentType = (optionalString(input, 'payload_content_type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const encoding = optionalString(input, 'payload_content_encoding');
    let payloadBytes: Buffer;
    if (contentType === TEXT) {
      if (encoding !== null) throw new InvalidInputError("'payload_content_encoding' is not allowed with text/plain.");
      payloadBytes = Buffer.from(payload, 'utf8');
    } else if (contentType === OCTET || contentType === 'application/pkcs8' || contentType === 'application/pkix-cert') {
      if (encoding !== 'base64') throw new InvalidInputError("'payload_content_encoding' must be 'base64' for binary payloads.");
      if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(payload)) throw new InvalidInputError('The payload is not valid base64.');
      payloadBytes = Buffer.from(payload, 'base64');
    } else {
      throw new InvalidInputError(`'payload_content_type' must be ${TEXT} or ${OCTET}.`);
    }
    if (payloadBytes.length === 0 || payloadBytes.length > MAX_PAYLOAD_BYTES)
      throw new InvalidInputError(`The payload must be 1 to ${MAX_PAYLOAD_BYTES} bytes.`);
    return { contentType: contentType === TEXT ? TEXT : OCTET, bytes: payloadBytes };
  }

  async get(context: RequestContext, id: string): Promise<SecretRow> {
    const projectId = this.reader(context);
    const row = ID.test(id) ? await this.repo.find(id) : null;
    // Another project's secret is not found, so existence does not leak.
    if (row?.project_id !== projectId) throw new NotFoundError('Secret not found.');
    return row;
  }

  async payload(context: RequestContext, id: string, accept: string | undefined): Promise<SecretPayload> {
    const row = await this.get(context, id);
    const wanted = (accept ?? '*/*').split(',').map((t) => t.split(';')[0]?.trim().toLowerCase() ?? '');
    if (!wanted.includes(row.content_type) && !wanted.includes('*/*')) {
      throw new NotAcceptableError(`Wrong payload content-type: the secret is ${row.content_type}.`);
    }
    return { contentType: row.content_type, bytes: this.cipher.open(row.id, row.payload) };
  }

  async list(
    context: RequestContext,
    query: { readonly limit: number; readonly offset: number; readonly name: string | null; readonly secretType: string | null },
  ): Promise<{ rows: SecretRow[]; total: number }> {
    const projectId = this.reader(context);
    return this.repo.list({ projectId, ...query });
  }

  async delete(context: RequestContext, id: string): Promise<void> {
    this.writer(context);
    await this.get(context, id);
    await this.repo.delete(id);
  }

  private reader(context: RequestContext): string {
    if (context.projectId === null) throw new ForbiddenError('A project-scoped token is required.');
    return context.projectId;
  }

  private writer(context: RequestContext): { projectId: string; userId: string } {
    const projectId = this.reader(context);
    if (context.userId === null || !context.roles.some((r) => WRITER_ROLES.has(r)))
      throw new ForbiddenError('Secret creation and deletion need the member, creator or admin role.');
    return { projectId, userId: context.userId };
  }
}
