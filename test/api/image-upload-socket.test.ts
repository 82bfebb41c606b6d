import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { useTestServer, type TestServer } from '../support/test-server.js';

/**
 * Upload bodies with a Content-Length are read from the socket into shared regions
 * (`upload_socket_reads`, src/http/socket-body.ts); chunked ones go through Node's parser.
 * Both must store the same bytes with the same digests, and fail the same way.
 */

const OCTET = { 'content-type': 'application/octet-stream' };
const MIB = 1024 * 1024;
const hex = (algorithm: string, data: Buffer): string => createHash(algorithm).update(data).digest('hex');

async function queuedImage(server: TestServer): Promise<string> {
  const reply = await server.request('demo', 'POST', '/v2/images', { body: { name: 'socket', disk_format: 'raw', container_format: 'bare' } });
  assert.equal(reply.status, 201, reply.text);
  return String(reply.json()['id']);
}

async function image(server: TestServer, id: string): Promise<Record<string, unknown>> {
  return (await server.request('demo', 'GET', `/v2/images/${id}`)).json();
}

/** A PUT of `data` as a chunked stream (no Content-Length). */
async function chunkedUpload(server: TestServer, id: string, data: Buffer): Promise<number> {
  const token = await server.token('demo');
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.url}/v2/images/${id}/file`, { method: 'PUT', headers: { ...OCTET, 'x-auth-token': token } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    Readable.from([data.subarray(0, MIB), data.subarray(MIB)]).pipe(req);
  });
}

async function storedBytes(server: TestServer, id: string): Promise<Buffer> {
  const response = await fetch(`${server.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': await server.token('demo') } });
  assert.equal(response.status, 200);
  return Buffer.from(await response.arrayBuffer());
}

describe('upload bodies read from the socket', () => {
  const server = useTestServer('sqlite', { imageSizeCap: 64 * MIB });

  it('stores a Content-Length upload read from the socket, with the right size and digests', async () => {
    const s = server.current;
    const uploads = s.uploads;
    assert.ok(uploads !== null, 'upload_socket_reads is on and the addon is built');
    const before = { ...uploads.counts };
    const id = await queuedImage(s);
    // Not a multiple of the 4 MiB regions nor of the 4 KiB block: the tail is padded and cut.
    const data = randomBytes(13 * MIB + 4097);
    const put = await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: OCTET });
    assert.equal(put.status, 204, put.text);
    assert.equal(uploads.counts.socket - before.socket, 1);
    assert.equal(uploads.counts.parser - before.parser, 0);
    const shown = await image(s, id);
    assert.equal(shown['status'], 'active');
    assert.equal(shown['size'], data.length);
    assert.equal(shown['checksum'], hex('md5', data));
    assert.equal(shown['os_hash_value'], hex('sha512', data));
    assert.ok((await storedBytes(s, id)).equals(data));
  });

  it('reads a chunked upload through Node, with the same result', async () => {
    const s = server.current;
    const uploads = s.uploads;
    assert.ok(uploads !== null);
    const before = uploads.counts.parser;
    const id = await queuedImage(s);
    const data = randomBytes(5 * MIB + 3);
    assert.equal(await chunkedUpload(s, id, data), 204);
    assert.equal(uploads.counts.parser - before, 1);
    const shown = await image(s, id);
    assert.equal(shown['checksum'], hex('md5', data));
    assert.equal(shown['os_hash_value'], hex('sha512', data));
    assert.ok((await storedBytes(s, id)).equals(data));
  });

  it('answers a refused upload in full while the client is still sending, and stores nothing', async () => {
    const s = server.current;
    const files = readdirSync(`${s.dataDir}/images`).length;
    const id = await queuedImage(s);
    const reply = await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: randomBytes(64 * MIB + 1), headers: OCTET });
    assert.equal(reply.status, 413, reply.text);
    assert.match(reply.text, /too large/);
    assert.equal((await image(s, id))['status'], 'queued');
    assert.equal(readdirSync(`${s.dataDir}/images`).length, files);
    // The connection was closed after the answer; the next request simply opens another.
    assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: 'retry', headers: OCTET })).status, 204);
  });

  it('a client that leaves mid-body: the image is queued again, says why, and no bytes stay', async () => {
    const s = server.current;
    const files = readdirSync(`${s.dataDir}/images`).length;
    const id = await queuedImage(s);
    const token = await s.token('demo');
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${s.url}/v2/images/${id}/file`, {
        method: 'PUT',
        headers: { ...OCTET, 'x-auth-token': token, 'content-length': String(32 * MIB) },
      });
      req.on('error', () => resolve());
      req.write(randomBytes(9 * MIB), () => {
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 100);
      });
    });
    let shown = await image(s, id);
    for (let i = 0; i < 50 && shown['status'] !== 'queued'; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      shown = await image(s, id);
    }
    assert.equal(shown['status'], 'queued');
    assert.match(String(shown['os_glimpse_upload_failure']), /interrupted/);
    assert.equal(readdirSync(`${s.dataDir}/images`).length, files);
  });
});

describe('upload_socket_reads = false', () => {
  const server = useTestServer('sqlite', { uploadSocketReads: false });

  it('reads every body through Node', async () => {
    const s = server.current;
    assert.equal(s.uploads, null);
    const id = await queuedImage(s);
    const data = randomBytes(6 * MIB + 1);
    assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: OCTET })).status, 204);
    assert.equal((await image(s, id))['os_hash_value'], hex('sha512', data));
  });
});
