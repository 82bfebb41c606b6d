/**
 * One glimpse-api process: loads the configuration (`--config-file`, repeatable, or
 * GLIMPSE_CONFIG_FILE), then, by its role (src/cli/glimpse-api.ts), prepares the node (database
 * schema, recovery of what a killed predecessor left, the first scrub), serves the Images API, or
 * both when it runs alone.
 */
import pino from 'pino';
import { ConfigError } from '../config/config-error.js';
import { StoreError } from '../stores/store-errors.js';
import { PolicyRuleCycleError } from '../policy/policy-enforcer.js';
import { PolicyFileError } from '../policy/policy-file.js';
import { PolicyRuleSyntaxError } from '../policy/rule-parser.js';
import { configFilesFromArgs, loadConfig } from '../config/config-loader.js';
import { ensureSchema, openDatabase, SchemaOutdatedError } from '../db/database.js';
import { embeddedUsersOf, ensureDefaultAdmin } from '../identity/embedded/embedded-users.js';
import { createServer } from '../server/create-server.js';
import { settingsFromConfig } from '../server/settings-from-config.js';
import { buildIdentity, buildPolicy, buildProtections } from '../server/wiring.js';
import { ProtectionRuleError } from '../protections/protection-errors.js';
import { openDataParts } from '../server/data-parts.js';

/**
 * `single`: the only process (workers = 1), which prepares and serves; `startup`: the cluster's
 * first child, which only prepares, before any worker serves; `worker`: a cluster worker, which
 * serves (`scrubber`: and runs the scrubber, one per host).
 */
export type ApiRole = 'single' | 'startup' | 'worker';

async function prepare(role: ApiRole): Promise<ReturnType<typeof settingsFromConfig> & { users: Awaited<ReturnType<typeof ensureDefaultAdmin>> }> {
  const config = loadConfig(configFilesFromArgs(process.argv.slice(2), process.env));
  const parts = settingsFromConfig(config);
  // A bad policy override or protection file stops startup here, naming the rule or section.
  buildProtections(parts.settings, buildPolicy(parts.settings));
  const users = await ensureDefaultAdmin(embeddedUsersOf(config), parts.settings.dataDir);
  if (role !== 'worker') {
    // The cluster's primary printed them already.
    if (role === 'single') for (const warning of config.warnings) console.warn(`warning: ${warning}`);
    const db = openDatabase(parts.settings.database);
    try {
      await ensureSchema(db, parts.settings.database);
      // Before any worker serves: finish what a killed predecessor left (README "Image data").
      const startupLog = pino({ level: parts.process.debug ? 'debug' : 'warn' });
      const dataParts = await openDataParts(parts.settings, db, buildPolicy(parts.settings), startupLog);
      const { recovery, scrubber } = dataParts;
      const report = await recovery.run({ requeue: true, remove: true });
      if (report.requeued.length > 0 || report.orphans.length > 0) {
        console.warn(
          `recovery: ${report.requeued.length} upload(s) interrupted and requeued, ${report.removed} of ${report.orphans.length} orphan object(s) removed`,
        );
      }
      // Deletes cut short by a crash are finished now unless delayed_delete keeps them for later.
      if (!parts.settings.scrubber.delayedDelete) await scrubber.scrubOnce();
      await dataParts.close();
    } finally {
      await db.destroy();
    }
    if (users.generatedPassword !== null && parts.process.flavor === 'embedded') {
      console.log(`Created embedded user 'admin' (project 'admin') with password: ${users.generatedPassword}`);
      console.log('It is stored only as a hash and will not be shown again.');
    }
  }
  return { ...parts, users };
}

/** Runs this process in its role; resolves once it serves (or, for `startup`, once it is done). */
async function run(role: ApiRole, scrubber: boolean): Promise<void> {
  const { settings, process: proc, users } = await prepare(role);
  if (role === 'startup') return;
  const logger = pino(
    { level: proc.debug ? 'debug' : 'info', redact: ['req.headers["x-auth-token"]', 'req.headers["x-subject-token"]'] },
    pino.destination({ dest: proc.logFile ?? 1, sync: false, minLength: 4096 }),
  );
  const policy = buildPolicy(settings);
  const protections = buildProtections(settings, policy);
  if (protections !== null) {
    process.on('SIGHUP', () => {
      try {
        protections.reload();
        logger.info({ file: settings.propertyProtection.file }, 'property protections reloaded');
      } catch (error) {
        logger.error({ err: error }, 'property protections not reloaded; the previous rules stay in force');
      }
    });
  }
  const server = await createServer({
    settings,
    logger,
    policy,
    protections,
    identity: (db) =>
      buildIdentity(proc, users.users, db, settings.publicEndpoint, settings.keyManager.backend === 'embedded', (message) => logger.warn(message)),
    // One scrubber per host: the single process, or the worker the primary named.
    runScrubber: scrubber,
  });
  const stop = (): void => {
    void server.close().then(() => {
      logger.flush();
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await server.app.listen({ host: proc.bindHost, port: proc.bindPort });
}

/** Runs the process; a mistake of the operator's is said in one line, then the process exits 1. */
export async function runApiProcess(role: ApiRole, scrubber: boolean): Promise<void> {
  try {
    await run(role, scrubber);
  } catch (error) {
    reportStartupError(error);
    process.exit(1);
  }
}

/** Configuration and policy mistakes are the operator's to fix: say what, without a stack. */
export function reportStartupError(error: unknown): void {
  if (
    error instanceof ConfigError ||
    error instanceof SchemaOutdatedError ||
    error instanceof StoreError ||
    error instanceof ProtectionRuleError ||
    error instanceof PolicyFileError ||
    error instanceof PolicyRuleSyntaxError ||
    error instanceof PolicyRuleCycleError
  ) {
    console.error(`glimpse-api: ${error.message}`);
  } else {
    console.error(error);
  }
}
