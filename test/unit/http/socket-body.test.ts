import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Chunk } from '../../../src/buffers/chunk-lease.js';
import { RegionPool } from '../../../src/buffers/region-pool.js';
import { SocketBodyReader, type SocketBody } from '../../../src/http/socket-body.js';
import { alignedOffset, dupSocket } from '../../../src/native/native-addon.js';

/**
 * Upload bodies read straight from the socket (src/http/socket-body.ts), over real TCP
 * connections: byte-exact with the start of the body already in Node's parser, in reused
 * aligned regions, with backpressure, and clean when the client leaves or the server answers
 * before the end.
 */

const MIB = 1024 * 1024;
const REGION = MIB;
const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

/** A raw HTTP request and everything the server sent back, as text. */
function exchange(
  port: number,
  head: string,
  body: Buffer,
  options: { sendBytes?: number; leaveAfter?: number } = {},
): Promise<{ response: string; error: Error | null }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let error: Error | null = null;
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', (e) => {
      error = e;
    });
    socket.on('close', () => {
      resolve({ response: Buffer.concat(received).toString('latin1'), error });
    });
    const sent = body.subarray(0, options.sendBytes ?? body.length);
    // Head and the first bytes in one write: Node's parser then holds the start of the body.
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), sent.subarray(0, 70_000)]));
    socket.write(sent.subarray(70_000), () => {
      if (options.leaveAfter !== undefined) setTimeout(() => socket.destroy(), options.leaveAfter);
    });
  });
}

const putHead = (length: number): string => `PUT /upload HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;

describe('socket body (upload bodies read from the socket)', () => {
  let server: Server;
  let port = 0;
  let handler: Handler = () => undefined;
  const reader = new SocketBodyReader(new RegionPool(REGION, 4, alignedOffset), dupSocket);

  before(async () => {
    assert.ok(dupSocket !== null && alignedOffset !== null, 'the native addon is built');
    server = createServer((request, response) => {
      void handler(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.close();
  });

  /** Reads a body to the end like the upload pipeline: each chunk used, then its lease released. */
  async function drain(body: SocketBody, delayMs = 0): Promise<{ data: Buffer; chunks: Buffer[] }> {
    const chunks: Buffer[] = [];
    const copies: Buffer[] = [];
    for await (const chunk of body) {
      const piece = chunk as Buffer;
      chunks.push(piece);
      copies.push(Buffer.from(piece));
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      (piece as Chunk).lease?.release();
    }
    return { data: Buffer.concat(copies), chunks };
  }

  for (const when of ['in the request event', 'a turn later (as Fastify calls handlers)']) {
    it(`reads the declared bytes exactly, opened ${when}, in leased aligned regions`, async () => {
      const data = randomBytes(5 * REGION + 12_345);
      const seen = new Promise<{ data: Buffer; chunks: Buffer[] }>((resolve, reject) => {
        handler = async (request, response) => {
          if (when !== 'in the request event') await nextTurn();
          const body = reader.open(request, response, Number(request.headers['content-length']), () => reject(new Error('truncated')));
          assert.ok(body !== null);
          const result = await drain(body);
          assert.equal(body.complete, true);
          response.end('done');
          resolve(result);
        };
      });
      const { response } = await exchange(port, putHead(data.length), data);
      const { data: got, chunks } = await seen;
      assert.equal(md5(got), md5(data));
      assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
      // Node's parser cannot follow the rest of this connection: it is closed after the answer.
      assert.match(response, /\r\nConnection: close\r\n/i);
      assert.deepEqual(
        chunks.map((c) => c.length),
        [REGION, REGION, REGION, REGION, REGION, 12_345],
      );
      for (const chunk of chunks) {
        assert.ok(chunk.buffer instanceof SharedArrayBuffer, 'hash threads can read it without a copy');
        assert.equal((chunk as Chunk).lease?.directIoAligned, true, 'the file store can write it with O_DIRECT as it is');
        assert.equal(alignedOffset?.(chunk, 4096), 0);
      }
    });
  }

  it('holds back a fast client for a slow consumer and reuses released regions', async () => {
    const data = randomBytes(40 * REGION);
    const seen = new Promise<{ data: Buffer; chunks: Buffer[] }>((resolve, reject) => {
      handler = async (request, response) => {
        await nextTurn();
        const body = reader.open(request, response, data.length, () => reject(new Error('truncated')));
        assert.ok(body !== null);
        const result = await drain(body, 5);
        response.end();
        resolve(result);
      };
    });
    await exchange(port, putHead(data.length), data);
    const { data: got, chunks } = await seen;
    assert.equal(md5(got), md5(data));
    // Reading ahead of the consumer would need a region per MiB; backpressure keeps it to a few,
    // and released regions come back (the pool keeps 4 idle ones).
    const distinct = new Set(chunks.map((c) => c.buffer)).size;
    assert.ok(distinct <= 6, `${distinct} regions for ${chunks.length} chunks`);
  });

  it('fails the body through onTruncated, without an unhandled error, when the client leaves', async () => {
    const data = randomBytes(8 * REGION);
    const outcome = new Promise<{ truncated: boolean; received: number }>((resolve) => {
      handler = async (request, response) => {
        await nextTurn();
        let truncated = false;
        const body = reader.open(request, response, data.length, () => {
          truncated = true;
        });
        assert.ok(body !== null);
        let received = 0;
        body.on('data', (chunk: Buffer) => {
          received += chunk.length;
          (chunk as Chunk).lease?.release();
        });
        body.on('close', () => {
          response.destroy();
          resolve({ truncated, received });
        });
      };
    });
    await exchange(port, putHead(data.length), data, { sendBytes: 3 * REGION + 7, leaveAfter: 50 });
    const { truncated, received } = await outcome;
    assert.equal(truncated, true);
    assert.ok(received <= 3 * REGION + 7);
  });

  it('drains the rest after an early answer, so the client reads the answer and no reset', async () => {
    const data = randomBytes(24 * REGION);
    let readByServer = 0;
    handler = async (request, response) => {
      await nextTurn();
      const body = reader.open(request, response, data.length, () => undefined);
      assert.ok(body !== null);
      for await (const chunk of body) {
        readByServer += (chunk as Buffer).length;
        break;
      }
      // As an upload refused after its first bytes (413, 400): answer, the body is dropped.
      body.destroy();
      response.writeHead(413, { 'content-type': 'text/plain', 'content-length': 9 }).end('too large');
    };
    const { response, error } = await exchange(port, putHead(data.length), data);
    assert.equal(error, null);
    assert.match(response, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
    assert.match(response, /\r\n\r\ntoo large$/);
    assert.ok(readByServer < data.length);
  });

  it('leaves bodies without a length, chunked or empty to Node', async () => {
    const opened: (SocketBody | null)[] = [];
    handler = (request, response) => {
      const length = request.headers['content-length'];
      opened.push(reader.open(request, response, length === undefined ? null : Number(length), () => undefined));
      request.resume();
      request.on('end', () => response.end());
    };
    const before = reader.counts.parser;
    await exchange(
      port,
      'PUT /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      Buffer.alloc(0),
    );
    await exchange(port, 'PUT /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', Buffer.alloc(0));
    assert.deepEqual(opened, [null, null]);
    assert.equal(reader.counts.parser - before, 2);
  });
});
