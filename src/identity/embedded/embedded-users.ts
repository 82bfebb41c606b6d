import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/config-loader.js';
import { hashPassword, isScryptHash, type EmbeddedPassword } from '../password-hash.js';

/** A user of the embedded identity, from `[embedded_identity] user_<name> = …`. */
export interface EmbeddedUser {
  readonly name: string;
  readonly password: EmbeddedPassword;
  readonly project: string;
  readonly roles: readonly string[];
}

/** The embedded identity's users (`[embedded_identity] user_<name> = <password> <project> <roles>`). */
export function embeddedUsersOf(config: Config): EmbeddedUser[] {
  return config.embeddedUserEntries.map(({ name, secret, project, roles }) => ({
    name,
    password: isScryptHash(secret) ? { kind: 'scrypt', hash: secret } : { kind: 'plain', value: secret },
    project,
    roles,
  }));
}

export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' } as const;

/**
 * Ids derived from names, so every worker process and every restart agrees on them without
 * shared state; they look like Keystone's (32 hex characters).
 */
export function stableId(kind: 'user' | 'project' | 'role', name: string): string {
  return createHash('sha256').update(`${kind}:${name}`).digest('hex').slice(0, 32);
}

export function projectId(name: string): string {
  return stableId('project', name);
}

export function userId(name: string): string {
  return stableId('user', name);
}

const BOOTSTRAP_FILE = 'embedded-admin-password-hash';

export interface BootstrapResult {
  readonly users: readonly EmbeddedUser[];
  /** Set only on the start that created the admin: print it once, it is stored only hashed. */
  readonly generatedPassword: string | null;
}

/**
 * With no user configured, the first start creates `admin` (project admin; admin, member, reader)
 * with a random password. Only its scrypt hash is kept, in the data directory, so later starts
 * and every worker accept the same password.
 */
export async function ensureDefaultAdmin(users: readonly EmbeddedUser[], dataDir: string): Promise<BootstrapResult> {
  if (users.length > 0) return { users, generatedPassword: null };
  const file = join(dataDir, BOOTSTRAP_FILE);
  let generatedPassword: string | null = null;
  if (!existsSync(file)) {
    generatedPassword = randomBytes(18).toString('base64url');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${await hashPassword(generatedPassword)}\n`, { mode: 0o600, flag: 'wx' });
  }
  const hash = readFileSync(file, 'utf8').trim();
  return {
    users: [{ name: 'admin', password: { kind: 'scrypt', hash }, project: 'admin', roles: ['admin', 'member', 'reader'] }],
    generatedPassword,
  };
}
