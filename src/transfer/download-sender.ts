import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { LocalFile } from '../stores/image-store.js';
import type { DownloadSink, SendOutcome } from './download-sink.js';
import type { LocalFileSender } from './local-file-sender.js';

/**
 * The bytes of a download: a local file (the file store), which can be sent without copying, or
 * a stream (every store without `localFiles`). Whoever receives it closes it.
 */
export type DownloadBody = { readonly kind: 'file'; readonly file: LocalFile } | { readonly kind: 'stream'; readonly stream: Readable };

/** Counts what passes, so a stream cut short reports how far it got. */
function counter(): Transform & { bytes: number } {
  const counting = Object.assign(
    new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
        counting.bytes += chunk.length;
        done(null, chunk);
      },
    }),
    { bytes: 0 },
  );
  return counting;
}

/** Sends a download's body, the fast way for local files (src/transfer/local-file-sender.ts). */
export class DownloadSender {
  constructor(readonly files: LocalFileSender) {}

  /** Sends `length` bytes from `start` (a stream body is already that slice). */
  async send(sink: DownloadSink, body: DownloadBody, start: number, length: number): Promise<SendOutcome> {
    if (body.kind === 'file') return this.files.send(sink, { file: body.file, start, length });
    const counting = counter();
    // One pipeline: a failing store read ends the response, a client that leaves ends the read.
    pipeline(body.stream, counting, (error) => {
      if (error) sink.log.info({ err: error }, 'download stream ended early');
    });
    const complete = await sink.stream(counting);
    return { path: 'streamed', bytes: counting.bytes, complete };
  }
}
