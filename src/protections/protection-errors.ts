/**
 * The one error type for property protections (reference §6). Glance answers every problem in the
 * protection file with the same bare `InvalidPropertyProtectionConfiguration`, found only when an
 * image request arrives; we validate at startup and say exactly where the problem is, so the
 * message always names whatever is known of file, line, section and key.
 */

/** Where in the protection file (or its options) a problem was found. */
export interface ProtectionRuleLocation {
  readonly file?: string;
  readonly line?: number;
  /** The section header text, i.e. the property regex. */
  readonly section?: string;
  /** A key inside the section (`create`…) or, for option problems, the option name. */
  readonly key?: string;
}

export class ProtectionRuleError extends Error {
  override readonly name = 'ProtectionRuleError';
  /** The problem itself, without the location prefix. */
  readonly reason: string;
  readonly file: string | null;
  readonly line: number | null;
  readonly section: string | null;
  readonly key: string | null;

  constructor(reason: string, location: ProtectionRuleLocation = {}, options?: ErrorOptions) {
    super(describeLocation(location) + reason, options);
    this.reason = reason;
    this.file = location.file ?? null;
    this.line = location.line ?? null;
    this.section = location.section ?? null;
    this.key = location.key ?? null;
  }

  /** The same problem with more location filled in (fields already set are kept). */
  at(location: ProtectionRuleLocation): ProtectionRuleError {
    return new ProtectionRuleError(
      this.reason,
      {
        file: this.file ?? location.file,
        line: this.line ?? location.line,
        section: this.section ?? location.section,
        key: this.key ?? location.key,
      },
      { cause: this },
    );
  }
}

/** `Invalid property protection file F: line 3, section [S], key "k": ` (only the parts known). */
export function describeLocation(location: ProtectionRuleLocation): string {
  const parts: string[] = [];
  if (location.line !== undefined) parts.push(`line ${location.line}`);
  if (location.section !== undefined) parts.push(`section [${location.section}]`);
  if (location.key !== undefined) parts.push(`key ${JSON.stringify(location.key)}`);
  const where = parts.join(', ');
  if (location.file !== undefined) return `Invalid property protection file ${location.file}${where === '' ? '' : `: ${where}`}: `;
  return where === '' ? '' : `${where}: `;
}
