import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/db/database.js';

/**
 * The databases API tests run against: a real SQLite file, and a real PostgreSQL server started by
 * scripts/postgres-test-server.sh (its URL in GLIMPSE_TEST_PG_URL). GLIMPSE_TEST_DIALECTS narrows
 * the run (`sqlite`, `postgres` or `sqlite,postgres`, the default when a PG URL is set).
 */
export type Dialect = 'sqlite' | 'postgres';

export function testDialects(): Dialect[] {
  const pgUrl = process.env['GLIMPSE_TEST_PG_URL'];
  const wanted = (process.env['GLIMPSE_TEST_DIALECTS'] ?? (pgUrl === undefined ? 'sqlite' : 'sqlite,postgres')).split(',');
  const dialects = wanted.filter((d): d is Dialect => d === 'sqlite' || d === 'postgres');
  if (dialects.includes('postgres') && pgUrl === undefined) {
    throw new Error('GLIMPSE_TEST_DIALECTS asks for postgres but GLIMPSE_TEST_PG_URL is not set: run the tests through scripts/test.sh');
  }
  return dialects;
}

export interface TestDatabase {
  readonly config: DatabaseConfig;
  readonly dataDir: string;
  drop(): Promise<void>;
}

/** A fresh, empty database: a new SQLite file, or a new PostgreSQL database on the test server. */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'glimpse-test-'));
  if (dialect === 'sqlite') {
    return {
      config: { kind: 'sqlite', path: join(dataDir, 'glimpse.sqlite') },
      dataDir,
      drop: () => {
        rmSync(dataDir, { recursive: true, force: true });
        return Promise.resolve();
      },
    };
  }
  const adminUrl = process.env['GLIMPSE_TEST_PG_URL'] ?? '';
  const name = `glimpse_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    config: { kind: 'postgres', url: url.toString() },
    dataDir,
    drop: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      // pg's pool.end() resolves before its sockets have closed. Dropping with FORCE at once would
      // terminate those sessions, and the server's notice of it reaches a client no pool listens
      // to any more (an uncaught 'error' after the test). Wait for them to go first.
      for (let i = 0; i < 150; i += 1) {
        const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        if (rows[0]?.n === '0') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
