import { createRequire } from 'node:module';

/** What one native sendfile call managed: bytes sent, and why it stopped early, if it did. */
export interface SendfileProgress {
  readonly sent: number;
  /** The socket stayed unwritable for the whole timeout: a slow or stalled reader. */
  readonly stalled: boolean;
  /** The file ended before the requested count (it shrank or was replaced). */
  readonly shortFile: boolean;
}

/**
 * sendfile(2) from `fileFd` at `offset`, up to `count` bytes, to `socketFd`, on libuv's thread
 * pool (native/sendfile.c). Waits for the socket at most `timeoutMs` at a time. Rejects with an
 * Error carrying `errno` when the socket or the file fails.
 */
export type Sendfile = (socketFd: number, fileFd: number, offset: number, count: number, timeoutMs: number) => Promise<SendfileProgress>;

/**
 * Addresses, lengths and offsets of O_DIRECT reads and writes must be multiples of the device's
 * logical block size; 4 KiB is a multiple of every size in use (512 and 4096).
 */
export const DIRECT_IO_ALIGNMENT = 4096;

/** Memory whose address is a multiple of `alignment`, for O_DIRECT writes (native/aligned-buffer.c). */
export type AlignedBuffer = (size: number, alignment: number) => ArrayBuffer;

/**
 * How many bytes past the start of `view` its first address that is a multiple of `alignment`
 * lies (native/aligned-buffer.c): shared memory cannot be allocated aligned, only entered there.
 */
export type AlignedOffset = (view: Uint8Array, alignment: number) => number;

/** The share (0..1) of a file's pages in [offset, offset + length) held in the page cache (native/residency.c). */
export type ResidentFraction = (fd: number, offset: number, length: number) => number;

/** A second, close-on-exec descriptor of the connected socket `fd` (native/socket-dup.c). */
export type DupSocket = (fd: number) => number;

interface NativeAddon {
  readonly send: Sendfile;
  readonly alignedBuffer: AlignedBuffer;
  readonly alignedOffset: AlignedOffset;
  readonly dupSocket: DupSocket;
  readonly residentFraction: ResidentFraction;
}

function load(): { readonly addon: NativeAddon | null; readonly reason: string | null } {
  if (process.platform !== 'linux') return { addon: null, reason: `the native addon is built for Linux only (this is ${process.platform})` };
  try {
    // Built by `npm install` from binding.gyp at the project root.
    return { addon: createRequire(import.meta.url)('../../build/Release/glimpse_native.node') as NativeAddon, reason: null };
  } catch (error) {
    return { addon: null, reason: `the native addon is not built (npm install builds it): ${error instanceof Error ? error.message : String(error)}` };
  }
}

const loaded = load();

/** The native sendfile, or null where it cannot run (then downloads stream through Node). */
export const nativeSendfile: Sendfile | null = loaded.addon?.send ?? null;
/** Aligned memory, or null without the addon (then the file store writes through the page cache). */
export const alignedBuffer: AlignedBuffer | null = loaded.addon?.alignedBuffer ?? null;
/** Address alignment of a view, or null without the addon. */
export const alignedOffset: AlignedOffset | null = loaded.addon?.alignedOffset ?? null;
/** Socket descriptor copies, or null without the addon (then uploads stream through Node's parser). */
export const dupSocket: DupSocket | null = loaded.addon?.dupSocket ?? null;
/** Page-cache residency of a file range, or null without the addon. */
export const residentFraction: ResidentFraction | null = loaded.addon?.residentFraction ?? null;
/** Why the addon is missing, for the startup log; null when it loaded. */
export const nativeAddonUnavailable: string | null = loaded.reason;
