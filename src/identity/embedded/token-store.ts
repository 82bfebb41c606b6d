import { createHash, randomBytes } from 'node:crypto';
import type { ProjectIdentity } from '../../auth/request-context.js';
import type { Db } from '../../db/database.js';
import { DEFAULT_DOMAIN } from './embedded-users.js';

export interface IssuedToken {
  readonly token: string;
  readonly identity: ProjectIdentity;
  readonly issuedAt: Date;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Embedded tokens: random, stored only as a SHA-256 digest (a stolen database yields no usable
 * token), shared by every worker through the database, and expiring after `token_expiration`.
 */
/** How long a validated token is reused in this process without asking the database again. */
const CACHE_MS = 30_000;
const MAX_CACHED = 10_000;

export class TokenStore {
  /**
   * Validations are remembered briefly per process, never past a token's expiry. A revocation made
   * through this process applies at once; one made through another worker within CACHE_MS — the
   * same trade keystonemiddleware makes with token_cache_time.
   */
  readonly #cache = new Map<string, { identity: ProjectIdentity; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly lifetimeSeconds: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async issue(identity: Omit<ProjectIdentity, 'expiresAt'>, expiresNoLaterThan?: Date): Promise<IssuedToken> {
    const token = randomBytes(32).toString('base64url');
    const issuedAt = this.now();
    let expiresAt = new Date(issuedAt.getTime() + this.lifetimeSeconds * 1000);
    // A rescoped token never outlives the one it came from, as in Keystone.
    if (expiresNoLaterThan !== undefined && expiresNoLaterThan < expiresAt) expiresAt = expiresNoLaterThan;
    await this.db
      .insertInto('identity_tokens')
      .values({
        token_hash: digest(token),
        user_id: identity.userId,
        user_name: identity.userName,
        project_id: identity.scope.projectId,
        project_name: identity.scope.projectName,
        roles: JSON.stringify(identity.roles),
        issued_at: issuedAt.toISOString(),
        expires_at: expiresAt.toISOString(),
      })
      .execute();
    return { token, identity: { ...identity, expiresAt }, issuedAt };
  }

  /** The identity behind a live token, or null. */
  async validate(token: string): Promise<ProjectIdentity | null> {
    if (token.length > 512) return null;
    const now = this.now().getTime();
    const cached = this.#cache.get(token);
    if (cached !== undefined && cached.until > now) return cached.identity;
    this.#cache.delete(token);
    const identity = await this.lookup(token);
    if (identity !== null) {
      if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
      this.#cache.set(token, { identity, until: Math.min(now + CACHE_MS, identity.expiresAt.getTime()) });
    }
    return identity;
  }

  private async lookup(token: string): Promise<ProjectIdentity | null> {
    const row = await this.db.selectFrom('identity_tokens').selectAll().where('token_hash', '=', digest(token)).executeTakeFirst();
    if (row === undefined) return null;
    const expiresAt = new Date(row.expires_at);
    if (expiresAt <= this.now()) {
      await this.purgeExpired();
      return null;
    }
    const roles = JSON.parse(row.roles) as string[];
    return {
      userId: row.user_id,
      userName: row.user_name,
      userDomainId: DEFAULT_DOMAIN.id,
      scope: { kind: 'project', projectId: row.project_id, projectName: row.project_name, projectDomainId: DEFAULT_DOMAIN.id },
      roles,
      isAdminProject: true,
      expiresAt,
      catalog: [],
    };
  }

  async issuedAt(token: string): Promise<Date | null> {
    const row = await this.db.selectFrom('identity_tokens').select('issued_at').where('token_hash', '=', digest(token)).executeTakeFirst();
    return row === undefined ? null : new Date(row.issued_at);
  }

  async revoke(token: string): Promise<boolean> {
    this.#cache.delete(token);
    const result = await this.db.deleteFrom('identity_tokens').where('token_hash', '=', digest(token)).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async purgeExpired(): Promise<void> {
    await this.db.deleteFrom('identity_tokens').where('expires_at', '<=', this.now().toISOString()).execute();
  }
}
