import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { login, startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';
import { parseJsonOutput, runCli, type CliResult, type Credentials } from '../support/openstack-cli.js';

const run = promisify(execFile);

/**
 * Byte-identical round trips of a generated 1 GiB image through Debian's real CLIs
 * (`openstack image create --file` / `image save`, `glance image-upload` / `image-download`),
 * with checksum and os_hash_value compared to what md5sum and sha512sum say of the same bytes.
 */
const SIZE = 1024 * 1024 * 1024;

async function digest(tool: 'md5sum' | 'sha512sum', file: string): Promise<string> {
  return (await run(tool, [file])).stdout.split(' ')[0] ?? '';
}

async function same(a: string, b: string): Promise<boolean> {
  try {
    await run('cmp', ['--silent', a, b]);
    return true;
  } catch {
    return false;
  }
}

describe('1 GiB images through the openstack and glance CLIs', () => {
  let glimpse: GlimpseProcess;
  let credentials: Credentials;
  let source: string;
  let md5: string;
  let sha512: string;

  const ok = async (result: Promise<CliResult>): Promise<string> => {
    const { code, stdout } = await result;
    assert.equal(code, 0, stdout);
    return stdout;
  };

  before(async () => {
    glimpse = await startGlimpseProcess('[DEFAULT]\nbind_port = {port}\ndata_dir = {dir}/data\n[embedded_identity]\nuser_demo = pw demo member,reader\n');
    credentials = { authUrl: `${glimpse.url}/identity/v3`, username: 'demo', password: 'pw', project: 'demo' };
    source = join(glimpse.dir, 'source.img');
    // Generated for this run (incompressible, nothing stored in the repository).
    await run('sh', ['-c', `head -c ${SIZE} /dev/urandom > '${source}'`]);
    [md5, sha512] = await Promise.all([digest('md5sum', source), digest('sha512sum', source)]);
  });
  after(async () => {
    await glimpse.stop();
  });

  it('openstack image create --file, then openstack image save: same bytes, md5sum and sha512sum', async () => {
    // OSC prints the image as the create call returned it; `image show` reads it after the upload.
    const { id } = parseJsonOutput<{ id: string }>(
      await ok(
        runCli('openstack', credentials, ['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', source, 'big-osc', '-f', 'json']),
      ),
    );
    const created = parseJsonOutput<{ id: string; status: string; checksum: string; size: number }>(
      await ok(runCli('openstack', credentials, ['image', 'show', id, '-f', 'json'])),
    );
    assert.equal(created.status, 'active');
    assert.equal(created.size, SIZE);
    assert.equal(created.checksum, md5);
    const token = await login(glimpse.url, 'demo', 'pw', 'demo');
    const image = (await (await fetch(`${glimpse.url}/v2/images/${created.id}`, { headers: { 'x-auth-token': token } })).json()) as Record<string, unknown>;
    assert.equal(image['os_hash_algo'], 'sha512');
    assert.equal(image['os_hash_value'], sha512);

    const saved = join(glimpse.dir, 'saved-osc.img');
    await ok(runCli('openstack', credentials, ['image', 'save', '--file', saved, created.id]));
    assert.ok(await same(source, saved), 'openstack image save returned different bytes');
    rmSync(saved);

    // A Range request at the very end of the large file.
    const tail = await fetch(`${glimpse.url}/v2/images/${created.id}/file`, { headers: { 'x-auth-token': token, range: `bytes=${SIZE - 10}-` } });
    assert.equal(tail.status, 206);
    assert.equal(tail.headers.get('content-range'), `bytes ${SIZE - 10}-${SIZE - 1}/${SIZE}`);
    const expected = (await run('sh', ['-c', `tail -c 10 '${source}' | od -An -tx1 | tr -d ' \\n'`])).stdout;
    assert.equal(Buffer.from(await tail.arrayBuffer()).toString('hex'), expected);
    await ok(runCli('openstack', credentials, ['image', 'delete', created.id]));
  });

  it('glance image-upload, then glance image-download: same bytes and checksums', async () => {
    const table = await ok(runCli('glance', credentials, ['image-create', '--disk-format', 'raw', '--container-format', 'bare', '--name', 'big-glance']));
    const id = /\|\s*id\s*\|\s*([0-9a-f-]{36})\s*\|/.exec(table)?.[1] ?? '';
    assert.match(id, /^[0-9a-f-]{36}$/, table);
    await ok(runCli('glance', credentials, ['image-upload', '--file', source, id]));
    const shown = await ok(runCli('glance', credentials, ['image-show', id]));
    assert.match(shown, new RegExp(`\\|\\s*checksum\\s*\\|\\s*${md5}\\s*\\|`));
    // glance wraps long values in its table; read the 128-digit os_hash_value from the API.
    const token = await login(glimpse.url, 'demo', 'pw', 'demo');
    const image = (await (await fetch(`${glimpse.url}/v2/images/${id}`, { headers: { 'x-auth-token': token } })).json()) as Record<string, unknown>;
    assert.equal(image['os_hash_value'], sha512);
    assert.match(shown, /\|\s*status\s*\|\s*active\s*\|/);
    const downloaded = join(glimpse.dir, 'downloaded-glance.img');
    await ok(runCli('glance', credentials, ['image-download', '--file', downloaded, id]));
    assert.ok(await same(source, downloaded), 'glance image-download returned different bytes');
    assert.equal(await digest('md5sum', downloaded), md5);
    rmSync(downloaded);
  });
});
