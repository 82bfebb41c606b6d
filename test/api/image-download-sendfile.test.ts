import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { useTestServer, type TestServer } from '../support/test-server.js';

/**
 * Downloads from the file store go out by sendfile(2) when the image is in the page cache, and
 * are read with O_DIRECT when it is not (src/transfer/local-file-sender.ts). These tests check both
 * stay byte-exact and HTTP-correct on every path: whole, ranged, on a kept-alive connection,
 * for a reader that stalls (the rest streams), and for one that leaves.
 */

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

async function activeImage(server: TestServer, data: Buffer): Promise<string> {
  const created = await server.request('demo', 'POST', '/v2/images', { body: { name: 'sendfile', disk_format: 'raw', container_format: 'bare' } });
  assert.equal(created.status, 201, created.text);
  const id = String(created.json()['id']);
  const upload = await server.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(upload.status, 204, upload.text);
  return id;
}

/**
 * Reads the image's file, bringing it into the page cache: an upload writes with O_DIRECT, so
 * a fresh image is not cached and would be read with O_DIRECT rather than sent by sendfile.
 */
function cache(server: TestServer, id: string): void {
  readFileSync(`${server.dataDir}/images/${id}`);
}

interface Got {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  readonly reusedSocket: boolean;
}

/** A GET through node:http, optionally on a given agent and pausing before reading the body. */
async function get(server: TestServer, path: string, options: { headers?: Record<string, string>; agent?: Agent; pauseMs?: number } = {}): Promise<Got> {
  const token = await server.token('demo');
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${server.url}${path}`,
      { headers: { 'x-auth-token': token, ...options.headers }, ...(options.agent === undefined ? {} : { agent: options.agent }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        setTimeout(() => {
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), reusedSocket: req.reusedSocket });
          });
          res.on('error', reject);
          res.resume();
        }, options.pauseMs ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Descriptors of this process open on files of the server's store. */
function openStoreFiles(server: TestServer): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${server.dataDir}/images/`)) open.push(target);
    } catch {
      // closed while we looked
    }
  }
  return open;
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(what);
}

describe('downloads by sendfile', () => {
  const server = useTestServer('sqlite');
  const data = randomBytes(9 * 1024 * 1024 + 7);

  it('sends whole images and ranges byte for byte, with Content-Length, Content-MD5 and Content-Range', async () => {
    const s = server.current;
    const id = await activeImage(s, data);
    cache(s, id);
    const before = { ...s.files.counts };

    const whole = await get(s, `/v2/images/${id}/file`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers['content-length'], String(data.length));
    assert.equal(whole.headers['content-md5'], md5(data));
    assert.equal(whole.headers['content-type'], 'application/octet-stream');
    assert.ok(typeof whole.headers['x-openstack-request-id'] === 'string');
    assert.equal(md5(whole.body), md5(data));

    const part = await get(s, `/v2/images/${id}/file`, { headers: { range: 'bytes=1000-2000999' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 1000-2000999/${data.length}`);
    assert.equal(part.headers['content-length'], '2000000');
    assert.deepEqual(part.body, data.subarray(1000, 2001000));

    const tail = await get(s, `/v2/images/${id}/file`, { headers: { range: 'bytes=-3' } });
    assert.equal(tail.status, 206);
    assert.deepEqual(tail.body, data.subarray(data.length - 3));

    // Each began by sendfile; one whose reader was slow for 100 ms (a loaded machine) may have
    // finished by streaming, which is just as correct.
    // (Counted when the server is done, which can be just after the client has every byte.)
    const bySendfile = (): number => s.files.counts.sendfile + s.files.counts.fellBack - before.sendfile - before.fellBack;
    await eventually(() => bySendfile() >= 3, 'all three are sent');
    assert.equal(bySendfile(), 3, `all three went out by sendfile: ${JSON.stringify(s.files.counts)}`);
    assert.equal(s.files.counts.streamed, before.streamed);
    await eventually(() => openStoreFiles(s).length === 0, 'every file is closed again');
  });

  it('keeps the connection alive across downloads and API calls', async () => {
    const s = server.current;
    const id = await activeImage(s, data.subarray(0, 3 * 1024 * 1024));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(s, `/v2/images/${id}/file`, { agent });
      const second = await get(s, `/v2/images/${id}/file`, { agent, headers: { range: 'bytes=5-9' } });
      const show = await get(s, `/v2/images/${id}`, { agent });
      assert.equal(md5(first.body), md5(data.subarray(0, 3 * 1024 * 1024)));
      assert.deepEqual(second.body, data.subarray(5, 10));
      assert.equal((JSON.parse(show.body.toString()) as { status: string }).status, 'active');
      assert.deepEqual([first.reusedSocket, second.reusedSocket, show.reusedSocket], [false, true, true]);
    } finally {
      agent.destroy();
    }
  });

  it('streams the rest to a reader that stalls, still byte for byte', async () => {
    const s = server.current;
    const big = randomBytes(48 * 1024 * 1024);
    const id = await activeImage(s, big);
    cache(s, id);
    const before = { ...s.files.counts };
    const slow = await get(s, `/v2/images/${id}/file`, { pauseMs: 500 });
    assert.equal(slow.status, 200);
    assert.equal(md5(slow.body), md5(big));
    await eventually(() => s.files.counts.fellBack - before.fellBack === 1, 'sendfile gave way to streaming');
    await eventually(() => openStoreFiles(s).length === 0, 'the file is closed after the streamed rest');
  });

  for (const cached of [true, false]) {
    it(`survives a client that leaves mid-download, closing the file (${cached ? 'sendfile' : 'O_DIRECT reads'})`, async () => {
      const s = server.current;
      const big = randomBytes(48 * 1024 * 1024);
      const id = await activeImage(s, big);
      if (cached) cache(s, id);
      const token = await s.token('demo');
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': token } }, (res) => {
          let got = 0;
          res.on('data', (chunk: Buffer) => {
            got += chunk.length;
            if (got > 1024 * 1024) {
              req.destroy();
              resolve();
            }
          });
        });
        req.on('error', (error) => {
          if (!req.destroyed) reject(error);
        });
        req.end();
      });
      await eventually(() => openStoreFiles(s).length === 0, 'the file is closed after the client left');
      const again = await get(s, `/v2/images/${id}/file`);
      assert.equal(md5(again.body), md5(big));
    });
  }

  it('reads an image that is not in the page cache with O_DIRECT on its first download: whole, unaligned ranges, a slow reader', async () => {
    const s = server.current;
    // Over two 8 MiB reads, not a whole number of blocks. Each download is of a new image: the
    // first download of an uncached image is the one read with O_DIRECT.
    const big = randomBytes(21 * 1024 * 1024 + 4099);
    const before = { ...s.files.counts };
    const whole = await get(s, `/v2/images/${await activeImage(s, big)}/file`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers['content-length'], String(big.length));
    assert.equal(whole.headers['content-md5'], md5(big));
    assert.equal(md5(whole.body), md5(big));
    // Starts inside a block and ends inside another, across a read boundary.
    const range = await get(s, `/v2/images/${await activeImage(s, big)}/file`, { headers: { range: 'bytes=4097-17000000' } });
    assert.equal(range.status, 206);
    assert.match(String(range.headers['content-range']), new RegExp(`^bytes 4097-17000000/${big.length}$`));
    assert.deepEqual(range.body, big.subarray(4097, 17000001));
    const tail = await get(s, `/v2/images/${await activeImage(s, big)}/file`, { headers: { range: `bytes=-${5 * 1024 * 1024 + 1}` } });
    assert.deepEqual(tail.body, big.subarray(big.length - 5 * 1024 * 1024 - 1));
    const slow = await get(s, `/v2/images/${await activeImage(s, big)}/file`, { pauseMs: 300 });
    assert.equal(md5(slow.body), md5(big));
    // (Counted as each starts; a download of the test before may still be counted as it ends.)
    assert.equal(s.files.counts.direct - before.direct, 4, JSON.stringify(s.files.counts));
    await eventually(() => openStoreFiles(s).length === 0, 'every file is closed again');
  });

  it('sends an uncached image through the page cache from its second download on, so it stays cached', async () => {
    const s = server.current;
    const big = randomBytes(12 * 1024 * 1024 + 1);
    const id = await activeImage(s, big);
    const before = { ...s.files.counts };
    const first = await get(s, `/v2/images/${id}/file`);
    await eventually(() => s.files.counts.direct - before.direct === 1, 'the first download is read with O_DIRECT');
    const second = await get(s, `/v2/images/${id}/file`);
    const third = await get(s, `/v2/images/${id}/file`);
    for (const got of [first, second, third]) assert.equal(md5(got.body), md5(big));
    const bySendfile = (): number => s.files.counts.sendfile + s.files.counts.fellBack - before.sendfile - before.fellBack;
    await eventually(() => bySendfile() === 2, 'the next two go by sendfile, through the page cache');
    assert.equal(s.files.counts.direct - before.direct, 1, JSON.stringify(s.files.counts));
  });

  it('sends an empty image as an empty 200', async () => {
    const s = server.current;
    const id = await activeImage(s, Buffer.alloc(0));
    const empty = await get(s, `/v2/images/${id}/file`);
    assert.equal(empty.status, 200);
    assert.equal(empty.headers['content-length'], '0');
    assert.equal(empty.body.length, 0);
    await eventually(() => openStoreFiles(s).length === 0, 'the file is closed');
  });
});

describe('downloads with sendfile_downloads = false', () => {
  const server = useTestServer('sqlite', { sendfileDownloads: false });

  it('stream through Node, byte for byte', async () => {
    const s = server.current;
    const data = randomBytes(2 * 1024 * 1024 + 1);
    const id = await activeImage(s, data);
    const got = await get(s, `/v2/images/${id}/file`, { headers: { range: 'bytes=7-' } });
    assert.equal(got.status, 206);
    assert.deepEqual(got.body, data.subarray(7));
    assert.deepEqual(s.files.counts, { sendfile: 0, direct: 0, streamed: 1, fellBack: 0 });
    // The stream closes the file just after its last byte went out.
    await eventually(() => openStoreFiles(s).length === 0, 'the file is closed');
  });
});
