import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/config-error.js';
import { configFilesFromArgs, loadConfig } from '../../../src/config/config-loader.js';
import { databaseConfigOf, parseDatabaseUrl } from '../../../src/db/database-url.js';
import { embeddedUsersOf } from '../../../src/identity/embedded/embedded-users.js';
import { parseIni } from '../../../src/config/ini-parser.js';
import { OPTIONS } from '../../../src/config/options.js';
import { renderSampleConfig } from '../../../src/config/sample-config.js';
import { parseByteSize, settingsFromConfig } from '../../../src/server/settings-from-config.js';

const dir = mkdtempSync(join(tmpdir(), 'glimpse-config-'));
let counter = 0;
function file(text: string): string {
  counter += 1;
  const path = join(dir, `c${counter}.conf`);
  writeFileSync(path, text);
  return path;
}
function refuses(text: string, pattern: RegExp): void {
  assert.throws(
    () => loadConfig([file(text)]),
    (error: unknown) => error instanceof ConfigError && pattern.test(error.message),
  );
}

describe('configuration (Glance option names)', () => {
  it('needs no file: every option has its default', () => {
    const config = loadConfig([]);
    assert.equal(config.value('DEFAULT', 'bind_port'), 9292);
    assert.equal(config.value('DEFAULT', 'limit_param_default'), 25);
    assert.equal(config.value('paste_deploy', 'flavor'), 'embedded');
    assert.deepEqual(databaseConfigOf(config), { kind: 'sqlite', path: resolve('data', 'glimpse.sqlite') });
    assert.deepEqual(embeddedUsersOf(config), []);
  });

  it('later files win, option by option', () => {
    const a = file('[DEFAULT]\nbind_port = 9000\nworkers = 3\n');
    const b = file('[DEFAULT]\nbind_port = 9001\n');
    const config = loadConfig([a, b]);
    assert.equal(config.value('DEFAULT', 'bind_port'), 9001);
    assert.equal(config.value('DEFAULT', 'workers'), 3);
  });

  it('parses oslo.config INI: comments, continuation lines, colons', () => {
    const sections = parseIni('# c\n[DEFAULT]\n; c\nkey: value\nlong = a,\n  b\n', 'x.conf');
    assert.equal(sections.get('DEFAULT')?.get('key')?.value, 'value');
    assert.equal(sections.get('DEFAULT')?.get('long')?.value, 'a,\nb');
    assert.throws(() => parseIni('key = outside\n', 'x.conf'), /x\.conf:1: option outside of any \[section\]/);
  });

  it('warns about unknown options and sections, naming them', () => {
    const config = loadConfig([file('[DEFAULT]\nno_such_option = 1\n[nowhere]\nx = 1\n')]);
    assert.equal(config.warnings.length, 2);
    assert.match(config.warnings[0] ?? '', /unknown option \[DEFAULT\] no_such_option/);
    assert.match(config.warnings[1] ?? '', /\[nowhere\] x/);
  });

  it('reads list options with or without the brackets of Glance sample configs', () => {
    const config = loadConfig([
      file(
        '[DEFAULT]\nenabled_import_methods = [glance-direct,web-download]\n[import_filtering_opts]\nallowed_ports = [8080, 8443]\nallowed_hosts = mirror.example, 127.0.0.1\n',
      ),
    ]);
    assert.deepEqual(config.value('DEFAULT', 'enabled_import_methods'), ['glance-direct', 'web-download']);
    assert.deepEqual(config.value('import_filtering_opts', 'allowed_ports'), ['8080', '8443']);
    assert.deepEqual(config.value('import_filtering_opts', 'allowed_hosts'), ['mirror.example', '127.0.0.1']);
    assert.deepEqual(loadConfig([file('[DEFAULT]\nenabled_import_methods = []\n')]).value('DEFAULT', 'enabled_import_methods'), []);
  });

  it('stops on a bad value, naming the option', () => {
    refuses('[DEFAULT]\nbind_port = ninety\n', /\[DEFAULT\] bind_port .*'ninety' is not an integer/);
    refuses('[DEFAULT]\nbind_port = 70000\n', /\[DEFAULT\] bind_port .*above the maximum 65535/);
    refuses('[DEFAULT]\nallow_additional_image_properties = maybe\n', /allow_additional_image_properties .*not a boolean/);
    refuses('[paste_deploy]\nflavor = noauth\n', /\[paste_deploy\] flavor .*not one of/);
    refuses('[DEFAULT]\npublic_endpoint = ftp://x\n', /\[DEFAULT\] public_endpoint/);
    refuses('[database]\nconnection = mysql://x\n', /\[database\] connection/);
    refuses('[embedded_identity]\nuser_bob = onlypassword\n', /\[embedded_identity\] user_bob/);
  });

  it('refuses mismatched policy switches, as Glance does', () => {
    refuses('[DEFAULT]\nenforce_secure_rbac = true\n', /enforce_secure_rbac does not match \[oslo_policy\] enforce_new_defaults/);
    const config = loadConfig([file('[DEFAULT]\nenforce_secure_rbac = true\n[oslo_policy]\nenforce_new_defaults = yes\n')]);
    assert.equal(config.value('oslo_policy', 'enforce_new_defaults'), true);
  });

  it('requires the service credentials for the keystone flavor', () => {
    assert.throws(
      () => settingsFromConfig(loadConfig([file('[paste_deploy]\nflavor = keystone\n')])),
      (e: unknown) => e instanceof ConfigError && /\[keystone_authtoken\] auth_url is required/.test(e.message),
    );
    const config = loadConfig([
      file('[paste_deploy]\nflavor = keystone\n[keystone_authtoken]\nauth_url = http://k:5000/v3/\nusername = glance\npassword = p\nproject_name = service\n'),
    ]);
    const { process } = settingsFromConfig(config);
    assert.equal(process.flavor, 'keystone');
    assert.equal(process.keystone?.wwwAuthenticateUri, 'http://k:5000/v3');
  });

  it('reads database URLs in SQLAlchemy form', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite:////var/lib/g.db', '/d'), { kind: 'sqlite', path: '/var/lib/g.db' });
    assert.deepEqual(parseDatabaseUrl('sqlite:///rel/g.db', '/d'), { kind: 'sqlite', path: resolve('rel/g.db') });
    assert.deepEqual(parseDatabaseUrl('sqlite://', '/d'), { kind: 'sqlite', path: ':memory:' });
    assert.deepEqual(parseDatabaseUrl('postgresql+psycopg2://u:p@h/db', '/d'), { kind: 'postgres', url: 'postgresql://u:p@h/db' });
    assert.deepEqual(parseDatabaseUrl(null, '/d'), { kind: 'sqlite', path: '/d/glimpse.sqlite' });
  });

  it('reads embedded users, with plain or scrypt passwords and lowercased roles', () => {
    const config = loadConfig([file('[embedded_identity]\nuser_demo = secret demo Member,reader\nuser_ops = scrypt$16384$8$1$c2FsdA==$aGFzaA== ops admin\n')]);
    assert.deepEqual(embeddedUsersOf(config), [
      { name: 'demo', password: { kind: 'plain', value: 'secret' }, project: 'demo', roles: ['member', 'reader'] },
      { name: 'ops', password: { kind: 'scrypt', hash: 'scrypt$16384$8$1$c2FsdA==$aGFzaA==' }, project: 'ops', roles: ['admin'] },
    ]);
  });

  it('takes files from --config-file (repeatable) or GLIMPSE_CONFIG_FILE', () => {
    assert.deepEqual(configFilesFromArgs(['--config-file', 'a', '--config-file=b'], {}), ['a', 'b']);
    assert.deepEqual(configFilesFromArgs([], { GLIMPSE_CONFIG_FILE: 'x:y' }), ['x', 'y']);
    assert.deepEqual(configFilesFromArgs([], {}), []);
    assert.throws(() => configFilesFromArgs(['--config-file'], {}), ConfigError);
    assert.throws(() => loadConfig([join(dir, 'missing.conf')]), /does not exist/);
  });

  it('loads a policy file named relative to the config file, and refuses a missing one', () => {
    writeFileSync(join(dir, 'my-policy.yaml'), 'publicize_image: "role:member"\n');
    const config = loadConfig([file('[oslo_policy]\npolicy_file = my-policy.yaml\n')]);
    assert.deepEqual(settingsFromConfig(config).settings.policyOverrides, { publicize_image: 'role:member' });
    assert.throws(() => settingsFromConfig(loadConfig([file('[oslo_policy]\npolicy_file = nope.yaml\n')])), /nope\.yaml/);
  });

  it('renders a sample with every option', () => {
    const sample = renderSampleConfig();
    for (const option of OPTIONS) assert.ok(sample.includes(`#${option.name} = `), option.name);
    assert.ok(sample.includes('[keystone_authtoken]'));
  });

  it('reads a single file store from [glance_store] and multi-store from enabled_backends', () => {
    const single = settingsFromConfig(loadConfig([file('[glance_store]\nfilesystem_store_datadir = /srv/img\nfilesystem_store_file_perm = 640\n')])).settings
      .stores;
    assert.deepEqual(single, {
      multiStore: false,
      defaultBackend: 'file',
      backends: [{ id: 'file', type: 'file', description: null, datadir: '/srv/img', filePerm: 640, durable: true, directIo: true }],
    });
    const multi = loadConfig([
      file(
        '[DEFAULT]\nenabled_backends = fast:file, cheap:file\n[glance_store]\ndefault_backend = cheap\n[fast]\nfilesystem_store_datadir = /srv/fast\nstore_description = SSD\n[cheap]\nfilesystem_store_datadir = /srv/cheap\nfilesystem_store_fsync = false\nfilesystem_thin_provisioning = true\n',
      ),
    ]);
    // Glance's own file-store options that Glimpse does not act on are accepted, with a warning.
    assert.ok(multi.warnings.some((w) => w.includes('[cheap] filesystem_thin_provisioning is ignored')));
    const stores = settingsFromConfig(multi).settings.stores;
    assert.equal(stores.multiStore, true);
    assert.equal(stores.defaultBackend, 'cheap');
    assert.deepEqual(
      stores.backends.map((b) => (b.type === 'file' ? [b.id, b.datadir, b.description, b.durable] : [b.id])),
      [
        ['fast', '/srv/fast', 'SSD', true],
        ['cheap', '/srv/cheap', null, false],
      ],
    );
  });

  it('stages in node_staging_uri, or in [os_glance_staging_store] with multi-store, flushed as the default store is', () => {
    const staging = (text: string): { dir: string; durable: boolean } => {
      const { imports } = settingsFromConfig(loadConfig([file(text)])).settings;
      return { dir: imports.stagingDir, durable: imports.stagingDurable };
    };
    assert.deepEqual(staging('[DEFAULT]\ndata_dir = /srv/g\n'), { dir: '/srv/g/staging', durable: true });
    assert.deepEqual(staging('[DEFAULT]\nnode_staging_uri = file:///srv/stage\n[glance_store]\nfilesystem_store_fsync = false\n'), {
      dir: '/srv/stage',
      durable: false,
    });
    const multi = '[DEFAULT]\nenabled_backends = a:file, b:file\nnode_staging_uri = file:///srv/stage\n[glance_store]\ndefault_backend = b\n';
    const stores = '[a]\nfilesystem_store_datadir = /srv/a\n[b]\nfilesystem_store_datadir = /srv/b\nfilesystem_store_fsync = false\n';
    // A multi-store config copied from Glance names the reserved store's directory.
    assert.deepEqual(staging(`${multi}${stores}[os_glance_staging_store]\nfilesystem_store_datadir = /srv/reserved\n`), {
      dir: '/srv/reserved',
      durable: false,
    });
    assert.deepEqual(staging(`${multi}${stores}`), { dir: '/srv/stage', durable: false });
    assert.deepEqual(staging(`${multi}${stores}[os_glance_staging_store]\nfilesystem_store_fsync = true\n`), { dir: '/srv/stage', durable: true });
    // Glance's reserved tasks store is accepted without a warning.
    assert.deepEqual(loadConfig([file('[os_glance_tasks_store]\nfilesystem_store_datadir = /srv/tasks\n')]).warnings, []);
  });

  it('refuses a bad multi-store configuration, naming the option', () => {
    refuses('[DEFAULT]\nenabled_backends = fast:file\n[fast]\nfilesystem_store_datadir = /a\n', /\[glance_store\] default_backend is required/);
    refuses(
      '[DEFAULT]\nenabled_backends = fast:file\n[glance_store]\ndefault_backend = slow\n[fast]\nfilesystem_store_datadir = /a\n',
      /default_backend: 'slow' is not one of enabled_backends \(fast\)/,
    );
    refuses('[DEFAULT]\nenabled_backends = fast:rbd\n', /store type 'rbd' of 'fast' is not supported/);
    // Any other key in a store's own section is a startup error naming the section and key (a
    // misspelt datadir would put images somewhere else).
    refuses(
      '[DEFAULT]\nenabled_backends = fast:file\n[glance_store]\ndefault_backend = fast\n[fast]\nfilesystem_store_datdir = /a\n',
      /:6: \[fast\] filesystem_store_datdir is not an option of the file store 'fast' \(its options: filesystem_store_datadir, /,
    );
    refuses('[DEFAULT]\nenabled_backends = os_glance_staging_store:file\n', /reserved/);
    refuses('[DEFAULT]\nenabled_backends = a:file, a:file\n', /'a' appears twice/);
    refuses('[DEFAULT]\nenabled_backends = fast\n', /'fast' is not <id>:<type>/);
    refuses('[DEFAULT]\nenabled_backends = fast:file\n[glance_store]\ndefault_backend = fast\n', /\[fast\] filesystem_store_datadir is required/);
    refuses(
      '[DEFAULT]\nenabled_backends = fast:file\n[glance_store]\ndefault_backend = fast\n[fast]\nfilesystem_store_datadir = /a\nfilesystem_store_file_perm = 999\n',
      /\[fast\] filesystem_store_file_perm/,
    );
    const twins = loadConfig([
      file(
        '[DEFAULT]\nenabled_backends = a:file,b:file\n[glance_store]\ndefault_backend = a\n[a]\nfilesystem_store_datadir = /same\n[b]\nfilesystem_store_datadir = /same/\n',
      ),
    ]);
    assert.throws(() => settingsFromConfig(twins), /\[b\] filesystem_store_datadir: \/same is also the directory of store 'a'/);
  });

  it("reads user_storage_quota with Glance's size suffixes (powers of 1024)", () => {
    assert.equal(parseByteSize('0'), 0);
    assert.equal(parseByteSize('1000'), 1000);
    assert.equal(parseByteSize('500MB'), 500 * 1024 ** 2);
    assert.equal(parseByteSize('2 tb'), 2 * 1024 ** 4);
    assert.equal(parseByteSize('7B'), 7);
    assert.throws(() => parseByteSize('5 PB'), /user_storage_quota: '5 PB' is not a size/);
    assert.throws(() => parseByteSize('-1'), ConfigError);
    assert.throws(() => parseByteSize('99999999999TB'), ConfigError);
  });
});
