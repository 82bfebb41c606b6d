import type { Logger } from '../ports/logger.js';

/** Points of an import job the crash tests stop at (README "Import": SIGKILL at each step). */
export type ImportCheckpoint = 'after-fetch' | 'after-plugins' | 'after-store-1' | 'before-success';

/**
 * Test-only: with `GLIMPSE_TEST_IMPORT_PAUSE=<checkpoint>` in its environment, glimpse-api's
 * import jobs stop at that point until they are told to stop, and say so, so a test can kill the process exactly
 * there (test/compat/import-crash.test.ts). Without the variable, which no deployment sets, this
 * does nothing.
 */
export async function checkpoint(name: ImportCheckpoint, log: Logger, signal: AbortSignal): Promise<void> {
  if (process.env['GLIMPSE_TEST_IMPORT_PAUSE'] !== name) return;
  log.warn(`import paused at ${name} (GLIMPSE_TEST_IMPORT_PAUSE)`);
  // Also straight to stderr: the log is buffered, and the test waits for this line.
  process.stderr.write(`import paused at ${name}\n`);
  // Until the job is told to stop (the process is stopping), so a graceful stop still ends.
  await new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')), { once: true });
  });
}
