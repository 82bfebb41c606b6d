#!/usr/bin/env node
/**
 * glimpse-manage: offline operator commands.
 *   db sync              apply database migrations ([database] connection)
 *   hash-password [PW]   print the scrypt hash of PW (or of a line read from stdin) for
 *                        `[embedded_identity] user_<name> = <hash> <project> <roles>`
 *   config sample        print a commented glance-api.conf with every option Glimpse reads
 * Options: --config-file FILE (repeatable) or GLIMPSE_CONFIG_FILE, as for glimpse-api.
 */
import { createInterface } from 'node:readline';
import { ConfigError } from '../config/config-error.js';
import { configFilesFromArgs, loadConfig } from '../config/config-loader.js';
import { renderSampleConfig } from '../config/sample-config.js';
import { migrateToLatest, openDatabase } from '../db/database.js';
import { hashPassword } from '../identity/password-hash.js';

const USAGE = 'usage: glimpse-manage [--config-file FILE]... (db sync | hash-password [PASSWORD] | config sample)';

async function readLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

async function main(argv: readonly string[]): Promise<number> {
  const words = argv.filter((arg, i) => !arg.startsWith('--config-file') && argv[i - 1] !== '--config-file');
  const [command, sub, ...rest] = words;
  if (command === 'db' && sub === 'sync') {
    const config = loadConfig(configFilesFromArgs(argv, process.env));
    const db = openDatabase(config.database);
    try {
      const applied = await migrateToLatest(db);
      console.log(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`);
    } finally {
      await db.destroy();
    }
    return 0;
  }
  if (command === 'hash-password') {
    const password = sub ?? (await readLine());
    if (password === '' || rest.length > 0) {
      console.error(USAGE);
      return 2;
    }
    console.log(await hashPassword(password));
    return 0;
  }
  if (command === 'config' && sub === 'sample') {
    process.stdout.write(renderSampleConfig());
    return 0;
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ConfigError ? `glimpse-manage: ${error.message}` : error);
    process.exit(1);
  },
);
