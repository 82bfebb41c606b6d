import assert from 'node:assert/strict';
import { fstatSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { plainSocketFd, stopReads } from '../../../src/http/socket-fd.js';

/**
 * src/http/socket-fd.ts is the one place Glimpse reaches into Node's internals (a socket's
 * TCPWrap: its fd and its reading switch), for sendfile downloads and socket-read uploads. These
 * tests fail loudly if a Node upgrade changes what it relies on.
 */
describe("Node's socket internals that socket-fd.ts relies on", () => {
  let server: Server;
  let port = 0;
  const accepted: Socket[] = [];
  before(async () => {
    server = createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });
  after(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function pair(): Promise<{ client: Socket; peer: Socket }> {
    const count = accepted.length;
    const client = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', resolve));
    while (accepted.length === count) await new Promise((resolve) => setImmediate(resolve));
    const peer = accepted.at(-1);
    if (peer === undefined) throw new Error('no peer');
    return { client, peer };
  }

  it('a plain TCP socket has a file descriptor, and it is that socket', async () => {
    const { client, peer } = await pair();
    const fd = plainSocketFd(peer);
    assert.equal(typeof fd, 'number', "Node's TCPWrap no longer exposes fd: sendfile downloads and socket-read uploads fall back");
    assert.ok(fstatSync(fd ?? -1).isSocket());
    client.destroy();
    await new Promise((resolve) => peer.once('close', resolve));
    assert.equal(plainSocketFd(peer), null, 'a destroyed socket has none');
  });

  it('stopReads stops libuv reading the socket', async () => {
    const { client, peer } = await pair();
    const received: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => received.push(chunk));
    client.write('first');
    while (received.length === 0) await new Promise((resolve) => setImmediate(resolve));
    stopReads(peer);
    const handle = (peer as unknown as { _handle: { reading?: unknown; readStop?: unknown } })._handle;
    assert.equal(typeof handle.readStop, 'function', "Node's TCPWrap no longer has readStop");
    assert.equal(handle.reading, false, "Node's TCPWrap no longer has a reading flag");
    client.write('second');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(Buffer.concat(received).toString(), 'first', 'nothing read while stopped');
    client.destroy();
  });
});
