#!/usr/bin/env node
/**
 * glimpse-api. Alone (`workers = 1`) the process prepares the node and serves
 * (src/cli/api-process.ts). With more workers the primary only reads the configuration and
 * forks: first a startup child that prepares the node (schema, recovery, the first scrub) while
 * nothing serves, then, once it succeeded, the workers that share the listening port. The
 * application is loaded by the children only, so the primary stays small for as long as the
 * service runs (about 40 MB less than a primary that loads it: bench/README.md, "Interoperable
 * import").
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { configFilesFromArgs, loadConfig } from '../config/config-loader.js';
import { ConfigError } from '../config/config-error.js';
import { DEFAULT_OPTIONS } from '../config/options.js';
import type { ApiRole } from './api-process.js';

/** What the primary tells each child it forks: its role, and whether it runs the scrubber. */
const ROLE_ENV = 'GLIMPSE_API_ROLE';
const SCRUBBER_ENV = 'GLIMPSE_API_SCRUBBER';

async function child(): Promise<void> {
  const { runApiProcess } = await import('./api-process.js');
  const role: ApiRole = process.env[ROLE_ENV] === 'startup' ? 'startup' : 'worker';
  await runApiProcess(role, process.env[SCRUBBER_ENV] === '1');
  if (role === 'startup') process.exit(0);
}

/** Forks the startup child and waits for it; its exit code. */
function prepareNode(): Promise<number> {
  return new Promise((resolve) => {
    // Killed by a signal, it has no exit code: a failure too.
    cluster.fork({ [ROLE_ENV]: 'startup' }).once('exit', (code) => {
      resolve(code === 0 ? 0 : 1);
    });
  });
}

async function primary(): Promise<void> {
  let workers: number;
  let warnings: readonly string[];
  try {
    const config = loadConfig(configFilesFromArgs(process.argv.slice(2), process.env));
    workers = config.section(DEFAULT_OPTIONS).workers;
    warnings = config.warnings;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`glimpse-api: ${error.message}`);
    process.exit(1);
  }
  if (workers === 0) workers = availableParallelism();
  if (workers <= 1) {
    const { runApiProcess } = await import('./api-process.js');
    await runApiProcess('single', true);
    return;
  }
  for (const warning of warnings) console.warn(`warning: ${warning}`);
  const prepared = await prepareNode();
  // The startup child said what went wrong.
  if (prepared !== 0) process.exit(prepared);
  for (let i = 0; i < workers; i += 1) cluster.fork({ [ROLE_ENV]: 'worker', [SCRUBBER_ENV]: i === 0 ? '1' : '0' });
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
}

await (cluster.isPrimary ? primary() : child());
