import { getHashes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './config-error.js';
import { parseIni, type IniValue } from './ini-parser.js';
import {
  OPTIONS,
  STORE_OPTIONS,
  STORE_OPTIONS_IGNORED,
  STORE_TYPE_ALIASES,
  type OptionDefinition,
  type OptionSchema,
  type OptionValue,
  type Section,
  type SectionValues,
} from './options.js';

/** Validated configuration: typed option values plus what needs parsing beyond one option. */
export interface Config {
  /** The value of a known option (its default when unset). */
  readonly value: (section: string, name: string) => OptionValue;
  /** A whole section's values, typed by its schema. */
  readonly section: <S extends OptionSchema>(section: Section<S>) => SectionValues<S>;
  /** `[embedded_identity] user_<name> = <password> <project> <role>[,<role>...]`, split (src/identity/embedded reads them). */
  readonly embeddedUserEntries: readonly EmbeddedUserEntry[];
  /** Multi-store backends from `[DEFAULT] enabled_backends`, in order; null in single-store mode. */
  readonly backends: readonly StoreBackendConfig[] | null;
  /** Directory of the first config file, where relative paths such as policy_file resolve. */
  readonly configDir: string;
  readonly warnings: readonly string[];
}

export interface EmbeddedUserEntry {
  readonly name: string;
  /** A password, or the scrypt hash `glimpse-manage hash-password` prints. */
  readonly secret: string;
  readonly project: string;
  /** Lowercased, as Glance lowercases roles (reference §16.1). */
  readonly roles: readonly string[];
}

export interface StoreBackendConfig {
  readonly id: string;
  /** A type of STORE_OPTIONS (aliases resolved). */
  readonly type: string;
  /** The values of that type's options (STORE_OPTIONS[type]) in the store's own section, converted. */
  readonly values: Readonly<Record<string, OptionValue>>;
}

const DYNAMIC_USER = /^user_(.+)$/;

/**
 * `enabled_backends = fast:file, cheap:file` (reference §15.1): ids are unique, never `os_glance_*`
 * (reserved for Glance's internal stores) and, for now, of the file type.
 */
function parseEnabledBackends(raw: IniValue): { id: string; type: string }[] {
  const at = `[DEFAULT] enabled_backends (${raw.file}:${raw.line})`;
  const backends: { id: string; type: string }[] = [];
  for (const entry of raw.value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const [id = '', type = '', ...rest] = entry.split(':').map((p) => p.trim());
    if (id === '' || type === '' || rest.length > 0) throw new ConfigError(`${at}: '${entry}' is not <id>:<type>`);
    if (id.startsWith('os_glance_')) throw new ConfigError(`${at}: store id '${id}' is reserved (os_glance_ prefix)`);
    if (backends.some((b) => b.id === id)) throw new ConfigError(`${at}: store id '${id}' appears twice`);
    const known = STORE_TYPE_ALIASES[type] ?? type;
    if (STORE_OPTIONS[known] === undefined)
      throw new ConfigError(`${at}: store type '${type}' of '${id}' is not supported (supported: ${Object.keys(STORE_OPTIONS).join(', ')})`);
    backends.push({ id, type: known });
  }
  if (backends.length === 0) throw new ConfigError(`${at}: no store is listed`);
  return backends;
}

function where(raw: IniValue, def: OptionDefinition): string {
  return `[${def.section}] ${def.name} (${raw.file}:${raw.line})`;
}

function convert(def: OptionDefinition, raw: IniValue): OptionValue {
  const text = raw.value.trim();
  const type = def.type;
  switch (type.kind) {
    case 'string':
      return text;
    case 'int': {
      if (!/^[+-]?\d+$/.test(text)) throw new ConfigError(`${where(raw, def)}: '${text}' is not an integer`);
      const n = Number(text);
      if (type.min !== undefined && n < type.min) throw new ConfigError(`${where(raw, def)}: ${n} is below the minimum ${type.min}`);
      if (type.max !== undefined && n > type.max) throw new ConfigError(`${where(raw, def)}: ${n} is above the maximum ${type.max}`);
      if (!Number.isSafeInteger(n)) throw new ConfigError(`${where(raw, def)}: ${text} is too large`);
      return n;
    }
    case 'bool': {
      const lower = text.toLowerCase();
      // oslo.config's accepted spellings.
      if (['true', 'yes', 'on', '1'].includes(lower)) return true;
      if (['false', 'no', 'off', '0'].includes(lower)) return false;
      throw new ConfigError(`${where(raw, def)}: '${text}' is not a boolean (true/false)`);
    }
    case 'list': {
      // oslo.config reads `a, b` and `[a, b]` alike; Glance's sample configs use the brackets.
      const items = /^\[.*\]$/s.test(text) ? text.slice(1, -1) : text;
      return items === ''
        ? []
        : items
            .split(',')
            .map((v) => v.trim())
            .filter((v) => v !== '');
    }
    case 'enum':
      if (!type.choices.includes(text)) throw new ConfigError(`${where(raw, def)}: '${text}' is not one of ${type.choices.join(', ')}`);
      return text;
    case 'pattern':
      if (!type.pattern.test(text)) throw new ConfigError(`${where(raw, def)}: '${text.replace(/:[^:@/]*@/, ':***@')}' is not ${type.form}`);
      return text;
    case 'uri':
      try {
        const url = new URL(text);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
      } catch {
        throw new ConfigError(`${where(raw, def)}: '${text}' is not an http(s) URL`);
      }
      return text.replace(/\/+$/, '');
  }
}

function userEntry(name: string, raw: IniValue): EmbeddedUserEntry {
  const [secret, project, roles, ...rest] = raw.value.trim().split(/\s+/);
  if (secret === undefined || project === undefined || roles === undefined || rest.length > 0 || secret === '') {
    throw new ConfigError(`[embedded_identity] user_${name} (${raw.file}:${raw.line}): expected '<password> <project> <role>[,<role>...]'`);
  }
  return {
    name,
    secret,
    project,
    roles: roles
      .split(',')
      .map((r) => r.trim().toLowerCase())
      .filter((r) => r !== ''),
  };
}

/** Config files from `--config-file FILE` (repeatable) or GLIMPSE_CONFIG_FILE (':'-separated). */
export function configFilesFromArgs(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const files: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--config-file') {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError('--config-file needs a file name');
      files.push(next);
      i += 1;
    } else if (arg.startsWith('--config-file=')) {
      files.push(arg.slice('--config-file='.length));
    }
  }
  if (files.length > 0) return files;
  const fromEnv = env['GLIMPSE_CONFIG_FILE'];
  return fromEnv === undefined || fromEnv === '' ? [] : fromEnv.split(':').filter((f) => f !== '');
}

/** Reads and validates the files; later files win per option. */
export function loadConfig(files: readonly string[]): Config {
  const known = new Map(OPTIONS.map((def) => [`${def.section}.${def.name}`, def]));
  const raw = new Map<string, IniValue>();
  const users = new Map<string, IniValue>();
  const warnings: string[] = [];
  const entries: { section: string; key: string; value: IniValue }[] = [];
  for (const file of files) {
    if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
    for (const [section, options] of parseIni(readFileSync(file, 'utf8'), file)) {
      for (const [key, value] of options) entries.push({ section, key, value });
    }
  }
  // Backend sections are named by enabled_backends, which any file may set, so classify last.
  const enabled = entries.filter((e) => e.section === 'DEFAULT' && e.key === 'enabled_backends').at(-1)?.value;
  const declaredBackends = enabled === undefined ? null : parseEnabledBackends(enabled);
  const backendRaw = new Map<string, Map<string, IniValue>>((declaredBackends ?? []).map((b) => [b.id, new Map()]));
  const backendTypes = new Map((declaredBackends ?? []).map((b) => [b.id, b.type]));
  const isStoreOption = (section: string, key: string): boolean => Object.hasOwn(STORE_OPTIONS[backendTypes.get(section) ?? ''] ?? {}, key);
  for (const { section, key, value } of entries) {
    const user = section === 'embedded_identity' ? DYNAMIC_USER.exec(key) : null;
    const backend = backendRaw.get(section);
    if (user !== null) users.set(user[1] ?? '', value);
    else if (backend !== undefined && isStoreOption(section, key)) backend.set(key, value);
    else if (known.has(`${section}.${key}`)) raw.set(`${section}.${key}`, value);
    else if (backend === undefined || STORE_OPTIONS_IGNORED[backendTypes.get(section) ?? '']?.includes(key) === true)
      warnings.push(`${value.file}:${value.line}: unknown option [${section}] ${key} is ignored`);
    else {
      const type = backendTypes.get(section) ?? '';
      throw new ConfigError(
        `${value.file}:${value.line}: [${section}] ${key} is not an option of the ${type} store '${section}' (its options: ${Object.keys(STORE_OPTIONS[type] ?? {}).join(', ')})`,
      );
    }
  }
  const values = new Map<string, OptionValue>();
  for (const [key, def] of known) {
    const given = raw.get(key);
    values.set(key, given === undefined ? def.default : convert(def, given));
  }
  const value = (section: string, name: string): OptionValue => {
    const key = `${section}.${name}`;
    if (!values.has(key)) throw new Error(`unknown option ${key}`);
    return values.get(key) ?? null;
  };

  // Glance refuses to start when the two policy switches disagree (reference §16.2).
  if (value('DEFAULT', 'enforce_secure_rbac') !== value('oslo_policy', 'enforce_new_defaults')) {
    throw new ConfigError('[DEFAULT] enforce_secure_rbac does not match [oslo_policy] enforce_new_defaults: set both to the same value');
  }
  const algorithm = String(value('DEFAULT', 'hashing_algorithm'));
  if (!getHashes().includes(algorithm)) throw new ConfigError(`[DEFAULT] hashing_algorithm: '${algorithm}' is not a hash this system provides`);
  const backends = (declaredBackends ?? []).map(({ id, type }): StoreBackendConfig => {
    const given = backendRaw.get(id) ?? new Map<string, IniValue>();
    const definitions = Object.entries(STORE_OPTIONS[type] ?? {});
    const backendValues: Record<string, OptionValue> = {};
    for (const [name, option] of definitions) {
      const entry = given.get(name);
      backendValues[name] = entry === undefined ? option.default : convert({ ...option, section: id, name }, entry);
      if (option.requiredInStoreSection === true && backendValues[name] === null) {
        throw new ConfigError(`[${id}] ${name} is required for the ${type} store '${id}'`);
      }
    }
    return { id, type, values: backendValues };
  });
  if (declaredBackends !== null) {
    const defaultBackend = value('glance_store', 'default_backend');
    if (defaultBackend === null) throw new ConfigError('[glance_store] default_backend is required with [DEFAULT] enabled_backends');
    if (!backends.some((b) => b.id === defaultBackend))
      throw new ConfigError(
        `[glance_store] default_backend: '${String(defaultBackend)}' is not one of enabled_backends (${backends.map((b) => b.id).join(', ')})`,
      );
  }
  const sectionValues = <S extends OptionSchema>(section: Section<S>): SectionValues<S> =>
    // Each value was converted by the very definition the schema holds, so it has the schema's type.
    Object.fromEntries(Object.keys(section.options).map((name) => [name, value(section.name, name)])) as SectionValues<S>;
  return {
    value,
    section: sectionValues,
    embeddedUserEntries: [...users].map(([name, raw]) => userEntry(name, raw)),
    backends: declaredBackends === null ? null : backends,
    configDir: files[0] === undefined ? process.cwd() : dirname(resolve(files[0])),
    warnings,
  };
}
