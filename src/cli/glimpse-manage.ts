#!/usr/bin/env node
/**
 * glimpse-manage: offline operator commands.
 *   db sync              apply database migrations ([database] connection)
 *   hash-password [PW]   print the scrypt hash of PW (or of a line read from stdin) for
 *                        `[embedded_identity] user_<name> = <hash> <project> <roles>`
 *   config sample        print a commented glance-api.conf with every option Glimpse reads
 *   data check           report interrupted uploads, orphan store objects and images whose
 *                        data is missing (read-only; exit 1 when anything is found)
 *   data recover         requeue interrupted uploads and remove orphan objects (run it with
 *                        glimpse-api stopped; glimpse-api itself runs it at every start)
 *   protections check --file F [--format roles|policies] [--policy-file P] [--roles a,b --property NAME]
 *                        validate a property protection file, warn about shadowed sections, and
 *                        say what given roles may do with a property
 *   image verify ID [--token TOKEN]
 *                        re-verify an active image's signature against its stored data (audit);
 *                        --token (or OS_TOKEN) when the key manager is Barbican
 *   scrub [--restore ID] one scrubber pass over pending_delete images (reference §12), or put
 *                        one back to active
 * Options: --config-file FILE (repeatable) or GLIMPSE_CONFIG_FILE, as for glimpse-api.
 */
import { createInterface } from 'node:readline';
import { ConfigError } from '../config/config-error.js';
import { configFilesFromArgs, loadConfig } from '../config/config-loader.js';
import { renderSampleConfig } from '../config/sample-config.js';
import { ensureSchema, migrateToLatest, openDatabase, SchemaOutdatedError } from '../db/database.js';
import { databaseConfigOf } from '../db/database-url.js';
import { hashPassword } from '../identity/password-hash.js';
import { KeystoneAuthenticator } from '../identity/keystone/keystone-authenticator.js';
import type { CatalogService } from '../auth/request-context.js';
import { DomainError } from '../errors/domain-errors.js';
import { openDataParts, type DataParts } from '../server/data-parts.js';
import { settingsFromConfig } from '../server/settings-from-config.js';
import { buildPolicy } from '../server/wiring.js';
import { StoreError } from '../stores/store-errors.js';
import pino from 'pino';
import { runProtectionsCheck } from '../protections/protections-tool.js';

const USAGE =
  'usage: glimpse-manage [--config-file FILE]... (db sync | hash-password [PASSWORD] | config sample | data check | data recover | scrub [--restore ID] | image verify ID [--token T] | protections check --file F ...)';

/** Opens the database and the image data parts the configuration describes, for one command. */
async function withDataParts(argv: readonly string[], run: (parts: DataParts) => Promise<number>): Promise<number> {
  const config = loadConfig(configFilesFromArgs(argv, process.env));
  const { settings } = settingsFromConfig(config);
  const db = openDatabase(settings.database);
  try {
    await ensureSchema(db, settings.database);
    const parts = await openDataParts(settings, db, buildPolicy(settings), pino({ level: 'warn' }, pino.destination(2)));
    try {
      return await run(parts);
    } finally {
      await parts.close();
    }
  } finally {
    await db.destroy();
  }
}

async function dataCommand(argv: readonly string[], sub: string | undefined): Promise<number> {
  return withDataParts(argv, async ({ recovery }) => {
    const fix = sub === 'recover';
    const report = await recovery.run({ requeue: fix, remove: fix });
    const saving = fix ? report.requeued : [];
    const lost = await recovery.findLostData();
    for (const id of saving) console.log(`requeued  ${id} (upload interrupted)`);
    for (const o of report.orphans)
      console.log(
        `${fix ? 'removed ' : 'orphan  '}  ${o.storeId} ${o.location} (${o.partial ? 'unfinished write' : 'no image refers to it'}, ${o.size} bytes)`,
      );
    for (const l of lost) console.log(`lost      ${l.imageId} [${l.status}] ${l.storeId} ${l.location}: ${l.reason}`);
    console.log(
      `${report.orphans.length} orphan object(s)${fix ? `, ${report.removed} removed` : ''}; ${lost.length} image location(s) without data${fix ? `; ${saving.length} upload(s) requeued` : ''}`,
    );
    return (fix ? report.removed < report.orphans.length : report.orphans.length > 0) || lost.length > 0 ? 1 : 0;
  });
}

async function scrubCommand(argv: readonly string[], rest: readonly string[]): Promise<number> {
  return withDataParts(argv, async ({ scrubber }) => {
    if (rest[0] === '--restore') {
      const id = rest[1];
      if (id === undefined) {
        console.error(USAGE);
        return 2;
      }
      await scrubber.restore(id);
      console.log(`restored ${id} to active`);
      return 0;
    }
    const report = await scrubber.scrubOnce();
    if (report.busy !== undefined) {
      console.error(`another scrubber pass is running (${report.busy.holder ?? 'its lease just ended'}); try again later`);
      return 1;
    }
    console.log(`scrubbed ${report.scrubbed.length} image(s); ${report.failed.length} left pending_delete`);
    return report.failed.length > 0 ? 1 : 0;
  });
}

/** The token's service catalog (where Barbican is), from Keystone in the keystone flavor. */
async function catalogOf(argv: readonly string[], token: string): Promise<readonly CatalogService[]> {
  const { process: proc } = settingsFromConfig(loadConfig(configFilesFromArgs(argv, process.env)));
  if (proc.keystone === null) return [];
  const keystone = new KeystoneAuthenticator(proc.keystone);
  try {
    const identity = await keystone.validate(token);
    if (identity === null) throw new ConfigError('the token given with --token (or OS_TOKEN) is not valid');
    return identity.catalog;
  } finally {
    keystone.close();
  }
}

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
    const db = openDatabase(databaseConfigOf(config));
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
  if (command === 'data' && (sub === 'check' || sub === 'recover') && rest.length === 0) return dataCommand(argv, sub);
  if (command === 'protections' && sub === 'check') {
    const result = runProtectionsCheck(rest);
    (result.exitCode === 0 ? console.log : console.error)(result.output);
    return result.exitCode;
  }
  if (command === 'image' && sub === 'verify' && rest[0] !== undefined) {
    const id = rest[0];
    const token = rest[1] === '--token' ? (rest[2] ?? null) : (process.env['OS_TOKEN'] ?? null);
    const serviceCatalog = token === null ? [] : await catalogOf(argv, token);
    return withDataParts(argv, async ({ data }) => {
      const result = await data.verifyStored(id, { authToken: token, serviceCatalog });
      console.log(`image ${id}: signature verified over ${result.bytes} bytes in store ${result.store}`);
      return 0;
    });
  }
  if (command === 'scrub') return scrubCommand(argv, sub === undefined ? [] : [sub, ...rest]);
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
    console.error(
      error instanceof ConfigError || error instanceof SchemaOutdatedError || error instanceof DomainError || error instanceof StoreError
        ? `glimpse-manage: ${error.message}`
        : error,
    );
    process.exit(1);
  },
);
