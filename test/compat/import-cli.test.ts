import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';
import { parseJsonOutput, runCli, type CliResult, type Credentials } from '../support/openstack-cli.js';

/**
 * Interoperable import as users run it (reference §9): Debian's `glance` and `openstack` CLIs
 * against a glimpse-api process, with glance-direct from a file and web-download from an HTTP
 * server on loopback that the config allows ([import_filtering_opts]), then the tasks as the
 * image's owner and as an admin. Every imported image downloads byte-identical.
 */
const USERS = {
  admin: { password: 'admin-pw', project: 'admin', roles: 'admin,member,reader' },
  demo: { password: 'demo-pw', project: 'demo', roles: 'member,reader' },
};
type User = keyof typeof USERS;

const bytes = randomBytes(5 * 1024 * 1024 + 3);
const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');
const sha512 = (data: Buffer): string => createHash('sha512').update(data).digest('hex');

/** The CLI's output, once it succeeded. */
async function ok(result: Promise<CliResult>): Promise<string> {
  const { code, stdout } = await result;
  assert.equal(code, 0, stdout);
  return stdout;
}

/** The id in a `glance` table ("| id | <uuid> |"). */
function idIn(table: string): string {
  const match = /\|\s*id\s*\|\s*([0-9a-f-]{36})\s*\|/.exec(table);
  assert.ok(match?.[1] !== undefined, table);
  return match[1];
}

describe('import with the OpenStack CLIs', () => {
  let glimpse: GlimpseProcess;
  let origin: Server;
  let source = '';
  let file = '';

  before(async () => {
    origin = createServer((_request, response) => {
      response.writeHead(200, { 'content-length': bytes.length });
      response.end(bytes);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const originPort = (origin.address() as AddressInfo).port;
    source = `http://127.0.0.1:${originPort}/images/cirros.raw`;
    const users = Object.entries(USERS).map(([name, u]) => `user_${name} = ${u.password} ${u.project} ${u.roles}`);
    glimpse = await startGlimpseProcess(
      [
        '[DEFAULT]',
        'bind_port = {port}',
        'data_dir = {dir}/data',
        // As an operator allows an internal mirror on loopback (reference §9.5).
        '[import_filtering_opts]',
        'allowed_hosts = 127.0.0.1',
        `allowed_ports = ${originPort}`,
        '[embedded_identity]',
        ...users,
        '',
      ].join('\n'),
    );
    file = join(glimpse.dir, 'cirros.raw');
    writeFileSync(file, bytes);
  });
  after(async () => {
    await glimpse.stop();
    origin.close();
  });

  const credentials = (user: User): Credentials => ({
    authUrl: `${glimpse.url}/identity/v3`,
    username: user,
    password: USERS[user].password,
    project: USERS[user].project,
  });
  const glance = (user: User, ...args: string[]): Promise<CliResult> => runCli('glance', credentials(user), args);
  const os = (user: User, ...args: string[]): Promise<CliResult> => runCli('openstack', credentials(user), args);
  async function activeAndIntact(id: string): Promise<void> {
    let status = '';
    for (let waited = 0; waited < 30_000 && status !== 'active'; waited += 200) {
      status = parseJsonOutput<{ status: string }>(await ok(os('demo', 'image', 'show', id, '-f', 'json'))).status;
      if (status !== 'active') await sleep(200);
    }
    assert.equal(status, 'active');
    const out = join(glimpse.dir, `download-${id}`);
    await ok(glance('demo', 'image-download', '--file', out, id));
    const got = readFileSync(out);
    assert.equal(md5(got), md5(bytes));
    const shown = parseJsonOutput<{ checksum: string; properties?: Record<string, unknown> }>(await ok(os('demo', 'image', 'show', id, '-f', 'json')));
    assert.equal(shown.checksum, md5(bytes));
    assert.equal(shown.properties?.['os_hash_value'], sha512(bytes));
  }

  it('glance image-create-via-import --import-method glance-direct --file', async () => {
    const out = await ok(
      glance(
        'demo',
        'image-create-via-import',
        '--name',
        'direct',
        '--disk-format',
        'raw',
        '--container-format',
        'bare',
        '--import-method',
        'glance-direct',
        '--file',
        file,
      ),
    );
    await activeAndIntact(idIn(out));
  });

  it('glance image-create-via-import --import-method web-download --uri', async () => {
    const out = await ok(
      glance(
        'demo',
        'image-create-via-import',
        '--name',
        'fetched',
        '--disk-format',
        'raw',
        '--container-format',
        'bare',
        '--import-method',
        'web-download',
        '--uri',
        source,
      ),
    );
    await activeAndIntact(idIn(out));
  });

  it('glance image-stage, then image-import; image-tasks lists the task', async () => {
    const id = idIn(await ok(glance('demo', 'image-create', '--name', 'staged', '--disk-format', 'raw', '--container-format', 'bare')));
    await ok(glance('demo', 'image-stage', '--file', file, id));
    assert.match(await ok(glance('demo', 'image-show', id)), /\|\s*status\s*\|\s*uploading\s*\|/);
    await ok(glance('demo', 'image-import', '--import-method', 'glance-direct', id));
    await activeAndIntact(id);
    // image-tasks shows each task's message, status and update time.
    const tasks = await ok(glance('demo', 'image-tasks', id));
    assert.match(tasks, /\|\s*Message\s*\|\s*Status\s*\|\s*Updated at\s*\|/);
    assert.match(tasks, /\|\s*\|\s*success\s*\|\s*\d{4}-\d\d-\d\dT[\d:.]+\s*\|/);
  });

  it('openstack image create --import uploads through stage and import', async () => {
    const shown = parseJsonOutput<{ id: string }>(
      await ok(os('demo', 'image', 'create', '--import', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, 'osc-import', '-f', 'json')),
    );
    await activeAndIntact(shown.id);
    const tasks = await ok(glance('demo', 'image-tasks', shown.id));
    assert.match(tasks, /\|\s*success\s*\|/, 'it went through an import task, not a plain upload');
  });

  it('glance task-list and task-show as admin; refused to a member', async () => {
    const list = await ok(glance('admin', 'task-list'));
    assert.match(list, /api_image_import/);
    const id = /\|\s*([0-9a-f-]{36})\s*\|\s*api_image_import/.exec(list)?.[1];
    assert.ok(id !== undefined, list);
    const shown = await ok(glance('admin', 'task-show', id));
    assert.match(shown, /\|\s*status\s*\|\s*success\s*\|/);
    const refused = await glance('demo', 'task-list');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout, /403|Forbidden|not authorized/i);
  });

  it('a web-download of a refused address is a 400 naming the rule, before anything is fetched', async () => {
    const out = await glance(
      'demo',
      'image-create-via-import',
      '--name',
      'metadata',
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      '--import-method',
      'web-download',
      '--uri',
      'http://169.254.169.254/latest/meta-data/',
    );
    assert.notEqual(out.code, 0);
    assert.match(out.stdout, /does not pass filtering/);
  });
});

describe('copy-image across two file stores with the glance CLI', () => {
  let glimpse: GlimpseProcess;
  let file = '';
  before(async () => {
    const users = Object.entries(USERS).map(([name, u]) => `user_${name} = ${u.password} ${u.project} ${u.roles}`);
    glimpse = await startGlimpseProcess(
      [
        '[DEFAULT]',
        'bind_port = {port}',
        'data_dir = {dir}/data',
        'enabled_backends = fast:file, cheap:file',
        '[glance_store]',
        'default_backend = fast',
        '[fast]',
        'filesystem_store_datadir = {dir}/fast',
        '[cheap]',
        'filesystem_store_datadir = {dir}/cheap',
        '[embedded_identity]',
        ...users,
        '',
      ].join('\n'),
    );
    file = join(glimpse.dir, 'disk.raw');
    writeFileSync(file, bytes);
  });
  after(async () => {
    await glimpse.stop();
  });
  const glance = (user: User, ...args: string[]): Promise<CliResult> =>
    runCli('glance', { authUrl: `${glimpse.url}/identity/v3`, username: user, password: USERS[user].password, project: USERS[user].project }, args);
  async function storesOf(id: string, want: string): Promise<string> {
    let stores = '';
    for (let waited = 0; waited < 30_000 && stores !== want; waited += 200) {
      stores = /\|\s*stores\s*\|\s*(\S*)\s*\|/.exec(await ok(glance('demo', 'image-show', id)))?.[1] ?? '';
      if (stores !== want) await sleep(200);
    }
    return stores;
  }

  /** glance-direct into the store `fast` with the CLI; the new image's id. */
  const directIntoFast = async (name: string): Promise<string> =>
    idIn(
      await ok(
        glance(
          'demo',
          'image-create-via-import',
          '--name',
          name,
          '--disk-format',
          'raw',
          '--container-format',
          'bare',
          '--import-method',
          'glance-direct',
          '--file',
          file,
          '--store',
          'fast',
        ),
      ),
    );

  it('imports into one store, then copies it with --stores and with --all-stores', async () => {
    const first = await directIntoFast('edge');
    assert.equal(await storesOf(first, 'fast'), 'fast');
    await ok(glance('admin', 'image-import', '--import-method', 'copy-image', '--stores', 'cheap', first));
    assert.equal(await storesOf(first, 'fast,cheap'), 'fast,cheap');
    const second = await directIntoFast('edge2');
    assert.equal(await storesOf(second, 'fast'), 'fast');
    await ok(glance('admin', 'image-import', '--import-method', 'copy-image', '--all-stores', 'True', second));
    assert.equal(await storesOf(second, 'fast,cheap'), 'fast,cheap');
    const out = join(glimpse.dir, 'copied.raw');
    await ok(glance('demo', 'image-download', '--file', out, second));
    assert.equal(md5(readFileSync(out)), md5(bytes));
    // A member may not copy (copy_image is admin-only by default).
    const refused = await glance('demo', 'image-import', '--import-method', 'copy-image', '--stores', 'cheap', first);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout, /403|not authorized/i);
  });
});
