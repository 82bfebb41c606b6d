import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config/config-error.js';
import { parseIni, type IniSections } from '../../config/ini-parser.js';
import type { SwiftAccountReference, SwiftDomain } from '../store-settings.js';

/**
 * `swift_store_config_file` (glance-swift.conf, reference §15.2): one section per account
 * reference, each with `auth_address`, `user`, `key`, `auth_version` and, for Keystone v3, the
 * user's and project's domains. The file is read at startup, so a missing key stops the server
 * with the file, section and key named instead of failing the first upload.
 */
const KEYS = ['auth_address', 'user', 'key', 'auth_version', 'user_domain_id', 'user_domain_name', 'project_domain_id', 'project_domain_name'];

function domain(values: Map<string, string>, kind: 'user' | 'project'): SwiftDomain {
  const id = values.get(`${kind}_domain_id`);
  const name = values.get(`${kind}_domain_name`);
  if (id !== undefined && id !== '') return { id };
  if (name !== undefined && name !== '') return { name };
  // keystoneauth's default when neither is given.
  return { id: 'default' };
}

/** The reference named `name` in the parsed file; `at` names the file in errors. */
export function accountReference(sections: IniSections, name: string, at: string): SwiftAccountReference {
  const section = sections.get(name);
  if (section === undefined) {
    const known = [...sections.keys()].filter((s) => s !== 'DEFAULT');
    throw new ConfigError(`${at}: default_swift_reference '${name}' is not a section of the file (it has: ${known.join(', ') || 'none'})`);
  }
  const values = new Map<string, string>();
  for (const [key, value] of section) {
    if (!KEYS.includes(key))
      throw new ConfigError(`${value.file}:${value.line}: [${name}] ${key} is not a key of a Swift account reference (${KEYS.join(', ')})`);
    values.set(key, value.value.trim());
  }
  const required = (key: string): string => {
    const value = values.get(key);
    if (value === undefined || value === '') throw new ConfigError(`${at}: [${name}] ${key} is required`);
    return value;
  };
  const authAddress = required('auth_address');
  try {
    const url = new URL(authAddress);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new ConfigError(`${at}: [${name}] auth_address '${authAddress}' is not an http(s) URL`);
  }
  const user = required('user');
  const version = values.get('auth_version') ?? '2';
  // Keystone's v2 API is gone (Queens); a reference that still says 2 gets v3 with default domains.
  const authVersion = version === '1' ? '1' : version === '2' || version === '3' ? '3' : null;
  if (authVersion === null) throw new ConfigError(`${at}: [${name}] auth_version '${version}' is not 1, 2 or 3`);
  if (authVersion === '3' && !user.includes(':')) throw new ConfigError(`${at}: [${name}] user '${user}' must be <project>:<user> for the identity service`);
  return {
    name,
    authAddress: authAddress.replace(/\/+$/, ''),
    authVersion,
    user,
    key: required('key'),
    userDomain: domain(values, 'user'),
    projectDomain: domain(values, 'project'),
  };
}

/** Reads the reference from the file; relative paths were resolved by the caller. */
export function readAccountReference(file: string, name: string): SwiftAccountReference {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`swift_store_config_file ${file} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  return accountReference(parseIni(text, file), name, `swift_store_config_file ${file}`);
}
