/** Messages between the main thread (hash-pool.ts) and a hash worker (hash-worker.ts). */
export type HashRequest =
  | { readonly type: 'start'; readonly session: number; readonly algorithm: string }
  /** A view into a SharedArrayBuffer: the same bytes go to every algorithm's worker, copied once. */
  | { readonly type: 'data'; readonly session: number; readonly buffer: SharedArrayBuffer; readonly offset: number; readonly length: number }
  | { readonly type: 'end'; readonly session: number }
  | { readonly type: 'cancel'; readonly session: number };

export type HashResponse =
  | { readonly type: 'ack'; readonly session: number; readonly bytes: number }
  | { readonly type: 'digest'; readonly session: number; readonly hex: string }
  | { readonly type: 'error'; readonly session: number; readonly message: string };
