import type { FastifyReply } from 'fastify';
import { pipeline, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { DownloadSink } from '../transfer/download-sink.js';
import { sendHeadOnly } from './hijacked-head.js';
import { plainSocketFd } from './socket-fd.js';

/**
 * A Fastify reply as the transfer code sees it (src/transfer/download-sink.ts). Writing the body
 * directly takes the response over from Fastify (hijack) but keeps Node's HTTP state: the head
 * goes out through ServerResponse and `end()` finishes it, so keep-alive and Fastify's
 * onResponse hook work as usual.
 */
export function replySink(reply: FastifyReply, status: number): DownloadSink {
  const raw = reply.raw;
  let headSent = false;
  return {
    directFd: () => plainSocketFd(raw.socket),
    async sendHead(): Promise<void> {
      sendHeadOnly(reply, status);
      headSent = true;
      // The head must be in the kernel before body bytes written to the socket's descriptor.
      const socket = raw.socket;
      if (socket !== null) await new Promise<void>((resolve) => socket.write(Buffer.alloc(0), () => resolve()));
    },
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        raw.write(bytes, (error) => {
          if (error) reject(error);
          else resolve();
        });
      }),
    end: () => {
      raw.end();
    },
    abort: (reason) => {
      raw.destroy(reason);
    },
    async stream(body: Readable): Promise<boolean> {
      const done = finished(raw).then(
        () => true,
        () => false,
      );
      if (headSent) {
        // The rest after the head: a client that leaves ends the read (and closes the file) too.
        pipeline(body, raw, (error) => {
          if (error) reply.log.info({ err: error }, 'download ended by the connection');
        });
      } else {
        void reply.code(status).send(body);
      }
      return done;
    },
    gone: () =>
      new Promise<never>((_resolve, reject) => {
        raw.once('close', () => {
          reject(new Error('the client closed the connection'));
        });
      }),
    log: reply.log,
  };
}
