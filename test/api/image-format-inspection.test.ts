import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer } from '../support/test-server.js';

/**
 * Format inspection through the API (README "Image data"): crafted images made here with
 * Debian's qemu-img (test fixtures only; uploaded data is never handed to it).
 */
const MIB = 1024 * 1024;
const fixtures = new Map<string, Buffer>();

function qemuImg(dir: string, ...args: string[]): void {
  execFileSync('/usr/bin/qemu-img', args, { cwd: dir, stdio: 'ignore' });
}

before(() => {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-inspection-api-'));
  qemuImg(dir, 'create', '-f', 'qcow2', 'plain.qcow2', '10M');
  qemuImg(dir, 'create', '-f', 'raw', 'base.raw', '10M');
  qemuImg(dir, 'create', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'backed.qcow2', '10M');
  qemuImg(dir, 'create', '-f', 'qcow2', '-o', 'data_file=external.raw', 'datafile.qcow2', '10M');
  qemuImg(dir, 'create', '-f', 'vmdk', '-o', 'subformat=streamOptimized', 'stream.vmdk', '20M');
  qemuImg(dir, 'create', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', 'flat.vmdk', '20M');
  for (const name of ['plain.qcow2', 'backed.qcow2', 'datafile.qcow2', 'stream.vmdk', 'flat.vmdk']) fixtures.set(name, readFileSync(join(dir, name)));
  // Raw: bytes that are no known format (no magic at any of the probed offsets).
  fixtures.set('plain.raw', Buffer.alloc(3 * MIB, 0x41));
});

function fixture(name: string): Buffer {
  const data = fixtures.get(name);
  if (data === undefined) throw new Error(`no fixture ${name}`);
  return data;
}

async function upload(server: TestServer, diskFormat: string, data: Buffer, containerFormat = 'bare'): Promise<{ id: string; status: number; text: string }> {
  const created = await server.request('demo', 'POST', '/v2/images', {
    body: { name: diskFormat, disk_format: diskFormat, container_format: containerFormat },
  });
  const id = String(created.json()['id']);
  const put = await server.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: { 'content-type': 'application/octet-stream' } });
  return { id, status: put.status, text: put.text };
}

async function image(server: TestServer, id: string): Promise<Record<string, unknown>> {
  return (await server.request('demo', 'GET', `/v2/images/${id}`)).json();
}

for (const dialect of testDialects()) {
  describe(`format inspection on upload (${dialect})`, () => {
    const server = useTestServer(dialect);

    it('accepts matching content and records its virtual size', async () => {
      const s = server.current;
      const qcow2 = await upload(s, 'qcow2', fixture('plain.qcow2'));
      assert.equal(qcow2.status, 204, qcow2.text);
      assert.equal((await image(s, qcow2.id))['virtual_size'], 10 * MIB);
      const vmdk = await upload(s, 'vmdk', fixture('stream.vmdk'));
      assert.equal(vmdk.status, 204, vmdk.text);
      assert.equal((await image(s, vmdk.id))['virtual_size'], 20 * MIB);
      const raw = await upload(s, 'raw', fixture('plain.raw'));
      assert.equal(raw.status, 204, raw.text);
      assert.equal((await image(s, raw.id))['virtual_size'], 3 * MIB);
    });

    const refused: [string, string, string, RegExp][] = [
      ['qcow2 declared as raw', 'raw', 'plain.qcow2', /disk_format is raw but its content is qcow2 \(format-mismatch\)/],
      ['raw declared as qcow2', 'qcow2', 'plain.raw', /disk_format is qcow2 but its content is raw \(format-mismatch\)/],
      ['qcow2 with a backing file', 'qcow2', 'backed.qcow2', /qcow2-backing-file/],
      ['qcow2 with an external data file', 'qcow2', 'datafile.qcow2', /qcow2-data-file/],
      ['vmdk with a flat extent descriptor', 'vmdk', 'flat.vmdk', /vmdk-/],
    ];
    for (const [what, declared, name, message] of refused) {
      it(`refuses ${what}: 400, image queued with the reason, no bytes stored`, async () => {
        const s = server.current;
        const before = readdirSync(join(s.dataDir, 'images')).length;
        const result = await upload(s, declared, fixture(name));
        assert.equal(result.status, 400, result.text);
        assert.match(result.text, message);
        const after = await image(s, result.id);
        assert.equal(after['status'], 'queued');
        assert.equal(after['virtual_size'], null);
        assert.match(String(after['os_glimpse_upload_failure']), message);
        assert.equal(readdirSync(join(s.dataDir, 'images')).length, before);
      });
    }

    it('does not inspect non-bare containers (their content is a container format)', async () => {
      const result = await upload(server.current, 'vmdk', fixture('plain.raw'), 'ova');
      assert.equal(result.status, 204, result.text);
    });
  });
}

describe('require_image_format_match = False', () => {
  const server = useTestServer('sqlite', { formatPolicy: { requireImageFormatMatch: false, vmdkAllowedTypes: ['streamOptimized', 'monolithicSparse'] } });

  it('accepts a format mismatch but still refuses unsafe content', async () => {
    const s = server.current;
    assert.equal((await upload(s, 'qcow2', fixture('plain.raw'))).status, 204);
    const backed = await upload(s, 'qcow2', fixture('backed.qcow2'));
    assert.equal(backed.status, 400);
    assert.match(backed.text, /qcow2-backing-file/);
  });
});
