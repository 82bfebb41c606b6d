import type { LocalFile } from '../stores/image-store.js';

/** The bytes of a local image file one download carries. */
export interface FileSlice {
  readonly file: LocalFile;
  /** First byte to send and how many. */
  readonly start: number;
  readonly length: number;
}
