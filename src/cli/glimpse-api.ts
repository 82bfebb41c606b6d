#!/usr/bin/env node
/**
 * glimpse-api: loads the configuration (`--config-file`, repeatable, or GLIMPSE_CONFIG_FILE),
 * migrates the database, and serves the Images API. With `workers` > 1 the primary process
 * prepares everything once and forks workers that share the listening port.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
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

async function prepare(): Promise<ReturnType<typeof settingsFromConfig> & { users: Awaited<ReturnType<typeof ensureDefaultAdmin>> }> {
  const config = loadConfig(configFilesFromArgs(process.argv.slice(2), process.env));
  const parts = settingsFromConfig(config);
  // A bad policy override or protection file stops startup here, naming the rule or section.
  buildProtections(parts.settings, buildPolicy(parts.settings));
  const users = await ensureDefaultAdmin(embeddedUsersOf(config), parts.settings.dataDir);
  if (cluster.isPrimary) {
    for (const warning of config.warnings) console.warn(`warning: ${warning}`);
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

async function serve(): Promise<void> {
  const { settings, process: proc, users } = await prepare();
  const workers = proc.workers === 0 ? availableParallelism() : proc.workers;
  if (cluster.isPrimary && workers > 1) {
    for (let i = 0; i < workers; i += 1) cluster.fork();
    // SIGHUP re-reads the property protection file in every worker.
    process.on('SIGHUP', () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
    });
    let stopping = false;
    const stopWorkers = (): void => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    };
    process.once('SIGTERM', stopWorkers);
    process.once('SIGINT', stopWorkers);
    cluster.on('exit', (worker, code) => {
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit();
        return;
      }
      // A worker that dies unexpectedly takes the service down loudly rather than limping on.
      console.error(`worker ${worker.process.pid ?? '?'} exited with ${code}; stopping`);
      stopWorkers();
      process.exitCode = 1;
    });
    return;
  }
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
    // One scrubber per host: the single process, or the first worker of a cluster.
    runScrubber: cluster.isPrimary || cluster.worker?.id === 1,
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

serve().catch((error: unknown) => {
  // Configuration and policy mistakes are the operator's to fix: say what, without a stack.
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
  process.exit(1);
});
