import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../config/config-error.js';
import type { Config } from '../config/config-loader.js';
import { DATABASE_OPTIONS, DEFAULT_OPTIONS } from '../config/options.js';
import type { DatabaseConfig } from './database.js';

/** `[database] connection` in SQLAlchemy form (reference §1.1 options). */
export function parseDatabaseUrl(text: string | null, dataDir: string): DatabaseConfig {
  if (text === null || text === '') return { kind: 'sqlite', path: resolve(dataDir, 'glimpse.sqlite') };
  const sqlite = /^sqlite(?:\+\w+)?:\/\/(\/(.*))?$/.exec(text);
  if (sqlite !== null) {
    const path = sqlite[2] ?? '';
    if (path === '' || path === ':memory:') return { kind: 'sqlite', path: ':memory:' };
    // sqlite:////abs has four slashes; sqlite:///rel is relative to the working directory.
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(path) };
  }
  const postgres = /^postgres(?:ql)?(?:\+\w+)?:\/\/(.+)$/.exec(text);
  if (postgres !== null) return { kind: 'postgres', url: `postgresql://${postgres[1] ?? ''}` };
  throw new ConfigError(`[database] connection: '${text.replace(/:[^:@/]*@/, ':***@')}' is not a sqlite:/// or postgresql:// URL`);
}

/** The database a configuration names (`[database] connection`, default under `data_dir`). */
export function databaseConfigOf(config: Config): DatabaseConfig {
  return parseDatabaseUrl(config.section(DATABASE_OPTIONS).connection, resolve(config.section(DEFAULT_OPTIONS).data_dir));
}
