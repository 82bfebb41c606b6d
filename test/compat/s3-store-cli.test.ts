import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';
import { embeddedCli } from '../support/openstack-cli.js';
import { startSwift, SWIFT_TESTER, type SwiftServer } from '../support/swift-server.js';

/**
 * Glimpse with its images in S3 (single store, `default_store = s3`; the S3 server is Swift's
 * s3api), driven by Debian's `openstack` CLI: create --file as a multipart upload, save, share,
 * delete; what is in the bucket is checked by listing it.
 */
const USERS = {
  demo: { password: 'demo-pw', project: 'demo', roles: 'member,reader' },
  alt: { password: 'alt-pw', project: 'alt_demo', roles: 'member,reader' },
  other: { password: 'other-pw', project: 'other', roles: 'member,reader' },
} as const;
type User = keyof typeof USERS;
const MB = 1024 * 1024;
const BUCKET = 'glimpse-images';
const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

describe('openstack CLI against Glimpse on an S3 store', () => {
  let swift: SwiftServer;
  let glimpse: GlimpseProcess;
  const { os, ok, json } = embeddedCli<User>(() => glimpse.url, USERS);
  /** The bucket's objects and the multipart parts s3api keeps beside it, of one image. */
  const objectsOf = async (id: string): Promise<string[]> =>
    [...((await swift.list(SWIFT_TESTER, BUCKET)) ?? []), ...((await swift.list(SWIFT_TESTER, `${BUCKET}+segments`)) ?? [])].filter((n) => n.startsWith(id));

  before(async () => {
    swift = await startSwift();
    glimpse = await startGlimpseProcess(
      [
        '[DEFAULT]',
        'bind_port = {port}',
        'data_dir = {dir}/data',
        '[glance_store]',
        'default_store = s3',
        // As a Glance config names it: host only would mean https; this endpoint is http.
        `s3_store_host = ${swift.url}`,
        `s3_store_access_key = ${SWIFT_TESTER.user}`,
        `s3_store_secret_key = ${SWIFT_TESTER.key}`,
        `s3_store_bucket = ${BUCKET}`,
        's3_store_create_bucket_on_put = True',
        's3_store_large_object_chunk_size = 5',
        '[embedded_identity]',
        ...Object.entries(USERS).map(([name, u]) => `user_${name} = ${u.password} ${u.project} ${u.roles}`),
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await glimpse.stop();
    await swift.stop();
  });

  it('creates, saves, shares and deletes an image stored as an S3 multipart upload', async () => {
    const data = randomBytes(12 * MB + 321);
    const file = join(glimpse.dir, 'image.raw');
    writeFileSync(file, data);
    const { id } = await json<{ id: string }>('demo', 'image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'on-s3');
    const shown = await json<{ status: string; checksum: string; size: number }>('demo', 'image', 'show', id);
    assert.equal(shown.status, 'active');
    assert.equal(shown.checksum, md5(data));
    assert.equal(shown.size, data.length);
    assert.equal(JSON.stringify(shown).includes('s3+http'), false, 'an ordinary user never sees the location');
    // 12 MB in 5 MB parts: the object and its three parts.
    assert.equal((await objectsOf(id)).length, 4, (await objectsOf(id)).join(', '));

    const saved = join(glimpse.dir, 'saved.raw');
    await ok(os('demo', 'image', 'save', '--file', saved, id));
    assert.equal(md5(readFileSync(saved)), md5(data));

    await ok(os('demo', 'image', 'set', '--shared', id));
    await ok(os('demo', 'image', 'add', 'project', id, 'alt_demo'));
    await ok(os('alt', 'image', 'set', '--accept', id));
    const member = join(glimpse.dir, 'member.raw');
    await ok(os('alt', 'image', 'save', '--file', member, id));
    assert.equal(md5(readFileSync(member)), md5(data));
    const outsider = await os('other', 'image', 'save', '--file', join(glimpse.dir, 'outsider.raw'), id);
    assert.notEqual(outsider.code, 0);

    await ok(os('demo', 'image', 'delete', id));
    assert.deepEqual(await objectsOf(id), []);
  });
});
