import type { LocalFile } from '../stores/image-store.js';

/** The bytes of a local image file one download answer carries. */
export interface FileResponse {
  readonly status: 200 | 206;
  readonly file: LocalFile;
  /** First byte to send and how many. */
  readonly start: number;
  readonly length: number;
}
