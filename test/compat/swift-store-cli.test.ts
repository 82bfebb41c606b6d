import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { login, startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';
import { embeddedCli, runCli } from '../support/openstack-cli.js';
import { startSwift, SWIFT_TESTER, SWIFT_TESTER2, type SwiftServer } from '../support/swift-server.js';

const run = promisify(execFile);

/**
 * Glimpse with its images in a real Swift (single-tenant, tempauth reference in
 * glance-swift.conf), driven by Debian's `openstack` CLI: create --file, save, share, delete, a
 * Swift outage, and what the orphan check finds in Swift. Segment cleanup is checked by listing
 * the container, never by trusting a delete.
 */
const USERS = {
  demo: { password: 'demo-pw', project: 'demo', roles: 'member,reader' },
  alt: { password: 'alt-pw', project: 'alt_demo', roles: 'member,reader' },
  other: { password: 'other-pw', project: 'other', roles: 'member,reader' },
  admin: { password: 'admin-pw', project: 'admin', roles: 'admin,member,reader' },
} as const;
type User = keyof typeof USERS;

const MB = 1024 * 1024;
const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

describe('openstack CLI against Glimpse on a Swift store (single-tenant)', () => {
  let swift: SwiftServer;
  let glimpse: GlimpseProcess;
  const { credentials, os, ok, json } = embeddedCli<User>(() => glimpse.url, USERS);
  const objectsOf = async (imageId: string): Promise<string[]> => ((await swift.list(SWIFT_TESTER, 'glance')) ?? []).filter((n) => n.startsWith(imageId));

  before(async () => {
    // Tokens of Glimpse's Swift account last 6 s: every upload below that takes longer must renew
    // its token between segments (swift_store_expire_soon_interval), as a long transfer does.
    swift = await startSwift({ tokenLifeSeconds: 6 });
    const users = Object.entries(USERS).map(([name, u]) => `user_${name} = ${u.password} ${u.project} ${u.roles}`);
    glimpse = await startGlimpseProcess(
      [
        '[DEFAULT]',
        'bind_port = {port}',
        'data_dir = {dir}/data',
        '[glance_store]',
        'default_store = swift',
        // Relative to the config file, as operators write it next to glance-api.conf.
        'swift_store_config_file = glance-swift.conf',
        'swift_store_create_container_on_put = True',
        'swift_store_large_object_size = 8',
        'swift_store_large_object_chunk_size = 4',
        'swift_store_expire_soon_interval = 2',
        '[embedded_identity]',
        ...users,
        '',
      ].join('\n'),
      undefined,
      {},
      { 'glance-swift.conf': readFileSync(swift.referenceFile(SWIFT_TESTER), 'utf8') },
    );
  });
  after(async () => {
    await glimpse.stop();
    await swift.stop();
  });

  let imageId = '';
  let data: Buffer;

  it('creates an image from a file into Swift segments, with the checksum of the bytes', async () => {
    data = randomBytes(10 * MB + 12345);
    const file = join(glimpse.dir, 'image.raw');
    writeFileSync(file, data);
    const image = await json<{ id: string; status: string; checksum: string; size: number }>(
      'demo',
      'image',
      'create',
      '--file',
      file,
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      'on-swift',
    );
    imageId = image.id;
    const shown = await json<{ status: string; checksum: string; size: number; properties?: Record<string, unknown> }>('demo', 'image', 'show', imageId);
    assert.equal(shown.status, 'active');
    assert.equal(shown.checksum, md5(data));
    assert.equal(shown.size, data.length);
    // The CLI sends the file without a length, so the data is segmented: 4 MB segments and a manifest.
    const objects = await objectsOf(imageId);
    assert.ok(objects.includes(imageId));
    assert.equal(objects.filter((n) => n.startsWith(`${imageId}/`)).length, 3, objects.join(', '));
    // An ordinary user never sees where the bytes are.
    assert.equal(JSON.stringify(shown).includes('swift+config'), false);
  });

  it('saves the image back byte for byte', async () => {
    const out = join(glimpse.dir, 'saved.raw');
    await ok(os('demo', 'image', 'save', '--file', out, imageId));
    assert.equal(md5(readFileSync(out)), md5(data));
  });

  it('shares it: the accepted member downloads it, an outsider cannot, and no other Swift account can read the container', async () => {
    await ok(os('demo', 'image', 'set', '--shared', imageId));
    await ok(os('demo', 'image', 'add', 'project', imageId, 'alt_demo'));
    await ok(os('alt', 'image', 'set', '--accept', imageId));
    const out = join(glimpse.dir, 'member.raw');
    await ok(os('alt', 'image', 'save', '--file', out, imageId));
    assert.equal(md5(readFileSync(out)), md5(data));
    const outsider = await os('other', 'image', 'save', '--file', join(glimpse.dir, 'outsider.raw'), imageId);
    assert.notEqual(outsider.code, 0);
    // openstackclient's words for an image it may not see (it found none by that id).
    assert.match(outsider.stdout, /No image found|404|Not Found|'NoneType' object has no attribute 'id'/i);
    // Single-tenant: the images live in Glimpse's account, which grants no one else anything.
    const { storageUrl } = await swift.login(SWIFT_TESTER);
    const { token } = await swift.login(SWIFT_TESTER2);
    assert.equal((await fetch(`${storageUrl}/glance/${imageId}`, { headers: { 'x-auth-token': token } })).status, 403);
  });

  it('answers 503 with the reason while Swift is down, keeps the failed upload queued with nothing stored, and recovers', async () => {
    await swift.proxyDown();
    let queuedId = '';
    try {
      // Asked directly: openstacksdk retries a 503 for about 20 s before it gives up.
      const token = await login(glimpse.url, 'demo', USERS.demo.password, 'demo');
      const download = await fetch(`${glimpse.url}/v2/images/${imageId}/file`, { headers: { 'x-auth-token': token } });
      assert.equal(download.status, 503);
      assert.match(await download.text(), /Swift at http:\/\/127\.0\.0\.1:\d+ is unavailable/);
      const image = await json<{ id: string }>('demo', 'image', 'create', '--disk-format', 'raw', '--container-format', 'bare', 'during-outage');
      queuedId = image.id;
      const file = join(glimpse.dir, 'small.raw');
      writeFileSync(file, randomBytes(MB));
      const stage = await runCli('glance', credentials('demo'), ['image-upload', '--file', file, queuedId]);
      assert.notEqual(stage.code, 0);
      assert.match(stage.stdout, /503|Service Unavailable/i);
      const after = await json<{ status: string; properties: Record<string, string> }>('demo', 'image', 'show', queuedId);
      assert.equal(after.status, 'queued');
      assert.match(after.properties['os_glimpse_upload_failure'] ?? '', /SERVICE_UNAVAILABLE: .*Swift at http:\/\/127\.0\.0\.1:\d+ is unavailable/);
    } finally {
      await swift.proxyUp();
    }
    assert.deepEqual(await objectsOf(queuedId), []);
    const out = join(glimpse.dir, 'after.raw');
    await ok(os('demo', 'image', 'save', '--file', out, imageId));
    assert.equal(md5(readFileSync(out)), md5(data));
  });

  it('completes an upload that outlives the account token, renewing it between segments', async () => {
    const id = (await json<{ id: string }>('demo', 'image', 'create', '--disk-format', 'raw', '--container-format', 'bare', 'slow-upload')).id;
    const token = await login(glimpse.url, 'demo', USERS.demo.password, 'demo');
    const req = httpRequest(`${glimpse.url}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
    });
    const answered = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    // 14 MiB over about 9 s: longer than a token lives, in four segments.
    const slow = randomBytes(14 * MB);
    const started = Date.now();
    for (let at = 0; at < slow.length; at += MB) {
      await new Promise<void>((resolve) => req.write(slow.subarray(at, at + MB), () => resolve()));
      await new Promise((r) => setTimeout(r, 650));
    }
    req.end();
    assert.equal(await answered, 204);
    assert.ok(Date.now() - started > 6000, 'the upload took longer than the token lives');
    const shown = await json<{ status: string; checksum: string }>('demo', 'image', 'show', id);
    assert.equal(shown.status, 'active');
    assert.equal(shown.checksum, md5(slow));
    assert.equal((await objectsOf(id)).filter((n) => n.startsWith(`${id}/`)).length, 4);
    await ok(os('demo', 'image', 'delete', id));
  });

  it('glimpse-manage data check finds the segments a crashed write left in Swift, and data recover removes them', async () => {
    const { token, storageUrl } = await swift.login(SWIFT_TESTER);
    const crashed = '0b0a1c2e-0000-4000-8000-000000000001';
    await fetch(`${storageUrl}/glance/${crashed}/00000000deadbeef/00001`, { method: 'PUT', headers: { 'x-auth-token': token }, body: 'left over' });
    const manage = (...args: string[]): Promise<{ stdout: string }> =>
      run(process.execPath, [resolve('bin/glimpse-manage.js'), '--config-file', glimpse.configFile, ...args], { cwd: glimpse.dir });
    // `data check` exits 1 when it finds something: its report is the output either way.
    const check = await manage('data', 'check').catch((e: unknown) => e as { stdout: string });
    assert.match(check.stdout, new RegExp(`swift\\+config://ref1/glance/${crashed}/00000000deadbeef/ \\(unfinished write`));
    await manage('data', 'recover').catch((e: unknown) => e);
    assert.deepEqual(await objectsOf(crashed), []);
    // The live image is untouched.
    assert.ok((await objectsOf(imageId)).includes(imageId));
  });

  it('deletes the image, and Swift holds none of its objects afterwards', async () => {
    await ok(os('demo', 'image', 'delete', imageId));
    assert.deepEqual(await objectsOf(imageId), []);
  });
});
