import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDialectConfig,
} from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations/index.js';
import { withStatementCache } from './sqlite-statement-cache.js';

export type DatabaseConfig = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

export type Db = Kysely<Database>;

// PostgreSQL returns BIGINT (oid 20) as a string; image sizes stay far below 2^53, so numbers are safe.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

/**
 * SQLite transactions begin IMMEDIATE: they take the write lock at BEGIN, where busy_timeout
 * waits for it. A deferred transaction that reads and then writes while another process (a
 * second worker) committed in between fails at once with SQLITE_BUSY_SNAPSHOT, which no timeout
 * retries: 50 concurrent imports on two workers hit it (bench/README.md, "Interoperable import").
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

/** Opens the configured database. SQLite runs in WAL mode so readers never wait for the writer. */
export function openDatabase(config: DatabaseConfig): Db {
  if (config.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: config.url, max: 10 });
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  if (config.path !== ':memory:') mkdirSync(dirname(config.path), { recursive: true });
  const sqlite = new SqliteDatabase(config.path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }) });
}

/** Brings the schema to the newest migration; `glimpse-manage db sync` and test setup call it. */
export async function migrateToLatest(db: Db): Promise<readonly string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw error instanceof Error ? error : new Error(`migration failed: ${JSON.stringify(error)}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** The database is older than this Glimpse and is not migrated behind the operator's back. */
export class SchemaOutdatedError extends Error {
  override readonly name = 'SchemaOutdatedError';
}

/**
 * Makes sure the schema is this Glimpse's before anything serves. An empty database (the first
 * start) and SQLite (the embedded default, one host) are migrated here; Kysely's migration lock
 * lets several processes start at once. A PostgreSQL database that other nodes may be using with
 * the previous release is migrated only by `glimpse-manage db sync`, when the operator decides,
 * as with Glance's `glance-manage db sync`; until then the server refuses to start.
 */
export async function ensureSchema(db: Db, config: DatabaseConfig): Promise<void> {
  const migrations = await new Migrator({ db, provider: migrationProvider }).getMigrations();
  const pending = migrations.filter((m) => m.executedAt === undefined).map((m) => m.name);
  if (pending.length === 0) return;
  if (config.kind === 'sqlite' || pending.length === migrations.length) {
    await migrateToLatest(db);
    return;
  }
  throw new SchemaOutdatedError(`the database schema is older than this Glimpse (pending migrations: ${pending.join(', ')}); run 'glimpse-manage db sync'`);
}
