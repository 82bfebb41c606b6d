import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nativeSendfile, nativeAddonUnavailable, type Sendfile } from '../../../src/native/native-addon.js';

/** Runs `test` with both ends of a fresh loopback TCP connection, then closes them. */
async function withConnection(test: (server: Socket, client: Socket) => Promise<void>): Promise<void> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect(address.port, '127.0.0.1');
  const server = await accepted;
  listener.close();
  try {
    await test(server, client);
  } finally {
    server.destroy();
    client.destroy();
  }
}

function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number') throw new Error('no fd');
  return fd;
}

/** Reads exactly `bytes` from the client, leaving the socket open for more. */
function receive(client: Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got < bytes) return;
      client.off('data', onData).off('error', reject);
      client.pause();
      resolve(Buffer.concat(chunks));
    };
    client.on('data', onData).on('error', reject);
    client.resume();
  });
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('native sendfile (native/sendfile.c)', () => {
  let dir: string;
  let data: Buffer;
  let file: FileHandle;
  let send: Sendfile;

  before(async () => {
    // The addon is part of the install on Linux; its absence is a failure here, not a skip.
    assert.equal(nativeAddonUnavailable, null);
    assert.ok(nativeSendfile !== null);
    send = nativeSendfile;
    dir = mkdtempSync(join(tmpdir(), 'glimpse-sendfile-'));
    data = randomBytes(8 * 1024 * 1024 + 333);
    writeFileSync(join(dir, 'image'), data);
    file = await open(join(dir, 'image'), 'r');
  });
  after(async () => {
    await file.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a slice of the file from an offset, byte for byte', async () => {
    await withConnection(async (server, client) => {
      const [progress, received] = await Promise.all([send(fdOf(server), file.fd, 12_345, 5_000_000, 1000), receive(client, 5_000_000)]);
      assert.deepEqual(progress, { sent: 5_000_000, stalled: false, shortFile: false });
      assert.equal(sha(received), sha(data.subarray(12_345, 12_345 + 5_000_000)));
      // Both descriptors were duplicated, not taken: they still work.
      server.write('after');
      assert.equal((await receive(client, 5)).toString(), 'after');
      assert.equal((await file.read(Buffer.alloc(4), 0, 4, 0)).bytesRead, 4);
    });
  });

  it('comes back with what it sent when the reader stops reading', async () => {
    await withConnection(async (server, client) => {
      client.pause();
      const started = Date.now();
      const progress = await send(fdOf(server), file.fd, 0, data.length, 50);
      assert.equal(progress.stalled, true);
      assert.ok(progress.sent > 0 && progress.sent < data.length, `sent ${progress.sent}`);
      assert.ok(Date.now() - started < 5000, 'returns after the stall timeout, not at the end of the file');
      // The rest goes out once the reader reads again, continuing at the right offset.
      client.resume();
      const rest = send(fdOf(server), file.fd, progress.sent, data.length - progress.sent, 1000);
      const received = await receive(client, data.length);
      assert.equal((await rest).sent, data.length - progress.sent);
      assert.equal(sha(received), sha(data));
    });
  });

  it('says when the file ends before the count', async () => {
    await withConnection(async (server, client) => {
      const [progress] = await Promise.all([send(fdOf(server), file.fd, data.length - 10, 100, 1000), receive(client, 10)]);
      assert.deepEqual(progress, { sent: 10, stalled: false, shortFile: true });
    });
  });

  it('fails with the errno when the reader has gone', async () => {
    await withConnection(async (server, client) => {
      client.destroy();
      await new Promise((resolve) => server.once('end', resolve).resume());
      // The first bytes may still be accepted by the kernel; the reset fails a later write.
      await assert.rejects(
        (async () => {
          for (let i = 0; i < 100; i += 1) await send(fdOf(server), file.fd, 0, data.length, 1000);
        })(),
        (error: Error & { errno?: number }) => error.errno === 32 || error.errno === 104,
      );
    });
  });

  it('refuses bad arguments without touching any descriptor', async () => {
    assert.throws(() => send(-1, file.fd, 0, 1, 10), TypeError);
    assert.throws(() => send(1, file.fd, -5, 1, 10), TypeError);
    assert.throws(() => (send as unknown as (...a: unknown[]) => unknown)('x', file.fd, 0, 1, 10), TypeError);
    assert.throws(() => (send as unknown as (...a: unknown[]) => unknown)(1, 2), TypeError);
    await assert.rejects(async () => send(987_654, file.fd, 0, 1, 10), /Bad file descriptor/);
  });
});
