/**
 * The hash worker thread's program: one digest per session, over views into shared buffers the
 * main thread fills (src/hashing/hash-pool.ts), answering in HashResponse. It needs nothing but
 * node:crypto. From source it is started through hash-worker-entry.mjs, which gives the thread the TypeScript loader.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashRequest, HashResponse } from './hash-protocol.js';

const port = parentPort;
if (port === null) throw new Error('hash-worker.ts runs as a worker thread');
const sessions = new Map<number, Hash>();
const reply = (message: HashResponse): void => {
  port.postMessage(message);
};

port.on('message', (message: HashRequest) => {
  switch (message.type) {
    case 'start':
      try {
        sessions.set(message.session, createHash(message.algorithm));
      } catch (error) {
        reply({ type: 'error', session: message.session, message: error instanceof Error ? error.message : String(error) });
      }
      return;
    case 'data':
      sessions.get(message.session)?.update(new Uint8Array(message.buffer, message.offset, message.length));
      reply({ type: 'ack', session: message.session, bytes: message.length });
      return;
    case 'end': {
      const hash = sessions.get(message.session);
      sessions.delete(message.session);
      if (hash !== undefined) reply({ type: 'digest', session: message.session, hex: hash.digest('hex') });
      return;
    }
    case 'cancel':
      sessions.delete(message.session);
      return;
  }
});
