import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginContext } from '../../../../src/imports/plugins/import-plugin.js';

/** What a plugin logged, in order. */
export interface LogEntry {
  readonly level: 'info' | 'warn';
  readonly fields: Readonly<Record<string, unknown>>;
  readonly message: string;
}

export interface TestContext extends PluginContext {
  readonly entries: LogEntry[];
}

/** A temporary directory for one test file, removed by `cleanup`. */
export function tempDir(prefix: string): { readonly dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `glimpse-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function pluginContext(workDir: string, overrides: { roles?: readonly string[]; signal?: AbortSignal } = {}): TestContext {
  const entries: LogEntry[] = [];
  const logAt =
    (level: LogEntry['level']) =>
    (fields: Readonly<Record<string, unknown>> | string, message?: string): void => {
      entries.push(typeof fields === 'string' ? { level, fields: {}, message: fields } : { level, fields, message: message ?? '' });
    };
  return {
    image: { id: '8c6b5a34-1f0e-4c5d-9e7a-2b3c4d5e6f70', properties: {} },
    roles: overrides.roles ?? ['member', 'reader'],
    signal: overrides.signal ?? new AbortController().signal,
    workDir,
    log: { info: logAt('info'), warn: logAt('warn') },
    entries,
  };
}

/** The files a plugin left in its work directory. */
export function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}
