import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';
import { parseJsonOutput, runCli, type Credentials } from '../support/openstack-cli.js';

const run = promisify(execFile);

/**
 * Property protections with the real `openstack` CLI, as two users with different roles of one
 * project against a glimpse-api started with test/fixtures/property-protections/roles.conf.
 */
interface ImageJson {
  id: string;
  name: string;
  properties?: Record<string, string>;
}

describe('property protections with the openstack CLI', () => {
  let glimpse: GlimpseProcess;
  let member: Credentials;
  let reader: Credentials;
  let admin: Credentials;
  before(async () => {
    glimpse = await startGlimpseProcess(
      [
        '[DEFAULT]',
        'bind_port = {port}',
        'data_dir = {dir}/data',
        `property_protection_file = ${resolve('test/fixtures/property-protections/roles.conf')}`,
        '[embedded_identity]',
        'user_admin = admin-pw demo admin,member,reader',
        'user_demo = demo-pw demo member,reader',
        'user_viewer = viewer-pw demo reader',
        '',
      ].join('\n'),
    );
    const authUrl = `${glimpse.url}/identity/v3`;
    admin = { authUrl, username: 'admin', password: 'admin-pw', project: 'demo' };
    member = { authUrl, username: 'demo', password: 'demo-pw', project: 'demo' };
    reader = { authUrl, username: 'viewer', password: 'viewer-pw', project: 'demo' };
  });
  after(async () => {
    await glimpse.stop();
  });

  const os = async (who: Credentials, ...args: string[]): Promise<{ code: number; stdout: string }> => runCli('openstack', who, args);
  const show = async (who: Credentials, id: string): Promise<ImageJson> => {
    const result = await os(who, 'image', 'show', id, '-f', 'json');
    assert.equal(result.code, 0, result.stdout);
    return parseJsonOutput<ImageJson>(result.stdout);
  };

  it('create --property, set --property, unset --property and show, as member and reader', async () => {
    const created = await os(member, 'image', 'create', '--property', 'x_team=blue', 'protected-cli', '-f', 'json');
    assert.equal(created.code, 0, created.stdout);
    const id = parseJsonOutput<ImageJson>(created.stdout).id;
    // Only admin may set a billing code (section [^x_billing_.*$]).
    const refused = await os(member, 'image', 'create', '--property', 'x_billing_code=ACME', 'refused-cli');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout, /403|reserved/);
    assert.equal((await os(admin, 'image', 'set', '--property', 'x_billing_code=ACME-1', id)).code, 0);

    // The member sees both; the reader sees the billing code but not x_team.
    assert.deepEqual([(await show(member, id)).properties?.['x_team'], (await show(member, id)).properties?.['x_billing_code']], ['blue', 'ACME-1']);
    const asReader = await show(reader, id);
    assert.equal(asReader.properties?.['x_team'], undefined);
    assert.equal(asReader.properties?.['x_billing_code'], 'ACME-1');

    // The member may change x_team but not the billing code.
    assert.equal((await os(member, 'image', 'set', '--property', 'x_team=red', id)).code, 0);
    const billing = await os(member, 'image', 'set', '--property', 'x_billing_code=FREE', id);
    assert.notEqual(billing.code, 0);
    assert.equal((await os(member, 'image', 'unset', '--property', 'x_billing_code', id)).code === 0, false, 'the member may not remove the billing code');
    assert.equal((await os(member, 'image', 'unset', '--property', 'x_team', id)).code, 0);

    // A property no section matches is nobody's, admin included.
    assert.notEqual((await os(admin, 'image', 'set', '--property', 'os_distro=debian', id)).code, 0);
    const final = (await show(admin, id)).properties ?? {};
    assert.equal(final['x_billing_code'], 'ACME-1');
    assert.equal(final['x_team'], undefined);
  });
});

describe('glimpse-api and a property protection file', () => {
  it('refuses to start on an invalid file, naming file, line, section and key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glimpse-pp-'));
    const rules = join(dir, 'rules.conf');
    writeFileSync(rules, '[^x_]\ncreate = admin\nread = @,!\nupdate = admin\ndelete = admin\n');
    const config = join(dir, 'glance-api.conf');
    writeFileSync(config, `[DEFAULT]\ndata_dir = ${dir}/data\nproperty_protection_file = ${rules}\n`);
    const failure = await run(process.execPath, [resolve('bin/glimpse-api.js'), '--config-file', config], { cwd: dir }).then(
      () => null,
      (error: unknown) => error as { code: number; stderr: string },
    );
    assert.ok(failure !== null, 'glimpse-api must not start');
    assert.equal(failure.code, 1);
    assert.match(
      failure.stderr,
      new RegExp(
        `Invalid property protection file ${rules}: line 3, section \\[\\^x_\\], key "read": '@' \\(anyone\\) and '!' \\(nobody\\) cannot be used together`,
      ),
    );
  });

  it('re-reads the file on SIGHUP, and keeps the old rules when the new file is invalid', async () => {
    const rules = join(mkdtempSync(join(tmpdir(), 'glimpse-pp-reload-')), 'rules.conf');
    const sdk = '[^owner_specified\\.]\ncreate = @\nread = @\nupdate = @\ndelete = @\n';
    writeFileSync(rules, `[^x_]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n${sdk}`);
    const glimpse = await startGlimpseProcess(
      `[DEFAULT]\nbind_port = {port}\ndata_dir = {dir}/data\nproperty_protection_file = ${rules}\n[embedded_identity]\nuser_demo = pw demo member,reader\n`,
    );
    try {
      const credentials = { authUrl: `${glimpse.url}/identity/v3`, username: 'demo', password: 'pw', project: 'demo' };
      const canCreate = async (): Promise<boolean> =>
        (await runCli('openstack', credentials, ['image', 'create', '--property', 'x_a=1', 'reload-test'])).code === 0;
      assert.equal(await canCreate(), false, 'the first file allows nothing to members');
      writeFileSync(rules, `[^x_]\ncreate = member\nread = member\nupdate = member\ndelete = member\n${sdk}`);
      const pid = Number((await run('pgrep', ['-f', '--', `--config-file ${glimpse.configFile}`])).stdout.trim().split('\n')[0]);
      process.kill(pid, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await canCreate(), true, 'reloaded');
      writeFileSync(rules, '[^x_(]\ncreate = member\n');
      process.kill(pid, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await canCreate(), true, 'an invalid file leaves the previous rules in force');
      assert.match(glimpse.output(), /property protections not reloaded/);
    } finally {
      await glimpse.stop();
    }
  });
});
