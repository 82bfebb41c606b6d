/**
 * Loads an oslo.policy override file (reference §16.2: `policy.yaml`; the deprecated
 * `policy.json` is read by the same code because JSON is YAML). Finding the file relative to the
 * config directories is the caller's job.
 */
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { legacyListToRuleText } from './rule-parser.js';

export class PolicyFileError extends Error {
  override readonly name = 'PolicyFileError';
  readonly path: string;

  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(`Invalid policy file ${path}: ${reason}`, options);
    this.path = path;
  }
}

export interface LoadPolicyFileOptions {
  /** When true a missing file means "no overrides" rather than an error. */
  readonly optional: boolean;
}

/**
 * Returns the file's rules by name. Each value must be rule text; oslo's legacy list-of-lists form
 * is converted to equivalent text. An empty file has no rules.
 */
export function loadPolicyFile(path: string, options: LoadPolicyFileOptions): Record<string, string> {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    if (options.optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new PolicyFileError(path, `cannot read it (${(err as Error).message})`, { cause: err });
  }

  let data: unknown;
  try {
    data = yaml.load(content, { filename: path });
  } catch (err) {
    throw new PolicyFileError(path, `not valid YAML or JSON (${(err as Error).message})`, { cause: err });
  }
  if (data === undefined || data === null) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new PolicyFileError(path, 'the top level must be a mapping of rule names to rule strings');
  }

  // fromEntries defines own properties, so a rule named "__proto__" stays an ordinary key.
  return Object.fromEntries(
    Object.entries(data).map(([name, value]: [string, unknown]) => {
      const text = typeof value === 'string' ? value : legacyListToRuleText(value);
      if (text === undefined) {
        throw new PolicyFileError(path, `rule ${JSON.stringify(name)} must be a string, found ${JSON.stringify(value)}`);
      }
      return [name, text];
    }),
  );
}
