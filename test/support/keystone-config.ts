import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config-loader.js';
import type { KeystoneSettings } from '../../src/identity/keystone/keystone-settings.js';
import { settingsFromConfig } from '../../src/server/settings-from-config.js';

/**
 * `[keystone_authtoken]` as an operator writes it, read through the real config loader: the
 * lines are put in a glance-api.conf with `flavor = keystone`.
 */
export function keystoneSettingsFromIni(lines: readonly string[]): KeystoneSettings {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-ksconf-'));
  try {
    const file = join(dir, 'glance-api.conf');
    writeFileSync(file, ['[DEFAULT]', `data_dir = ${dir}/data`, '[paste_deploy]', 'flavor = keystone', '[keystone_authtoken]', ...lines, ''].join('\n'));
    const keystone = settingsFromConfig(loadConfig([file])).process.keystone;
    if (keystone === null) throw new Error('no keystone settings');
    return keystone;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The service user scripts/keystone-test-server.sh provisions, written the way devstack does. */
export function serviceUserLines(authUrl: string): string[] {
  return [
    `auth_url = ${authUrl}`,
    'auth_type = password',
    'username = glance',
    'password = secret',
    'project_name = service',
    'user_domain_name = Default',
    'project_domain_name = Default',
  ];
}
