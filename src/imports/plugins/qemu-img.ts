import { resolve } from 'node:path';
import { runLimited, type ProcessLimits } from './limited-process.js';
import { parseQemuImageInfo, type QemuImageInfo } from './qemu-image-info.js';

/** Where qemu-img and prlimit are, and the limits each kind of run gets. */
export interface QemuImgSettings {
  readonly qemuImgPath: string;
  readonly prlimitPath: string;
  readonly infoLimits: ProcessLimits;
  readonly convertLimits: ProcessLimits;
}

const GIB = 1024 * 1024 * 1024;

/**
 * Glance runs `qemu-img info` with 30 s of CPU and 1 GiB of address space (its
 * QEMU_IMG_PROC_LIMITS, reference §9.7); the wall clock is ours, for a tool stuck on I/O.
 */
export const DEFAULT_INFO_LIMITS: ProcessLimits = { cpuSeconds: 30, addressSpaceBytes: GIB, timeoutMs: 120_000 };

/**
 * Glance puts no limit on `qemu-img convert`. Ours are generous, since converting a large image
 * takes real time, yet they still stop a conversion that spins forever: 30 minutes of CPU, 2 GiB
 * of address space (qemu-img's buffers and threads need less than half of that), 3 hours of wall clock.
 */
export const DEFAULT_CONVERT_LIMITS: ProcessLimits = { cpuSeconds: 30 * 60, addressSpaceBytes: 2 * GIB, timeoutMs: 3 * 60 * 60 * 1000 };

export const DEFAULT_QEMU_IMG_SETTINGS: QemuImgSettings = {
  qemuImgPath: '/usr/bin/qemu-img',
  prlimitPath: '/usr/bin/prlimit',
  infoLimits: DEFAULT_INFO_LIMITS,
  convertLimits: DEFAULT_CONVERT_LIMITS,
};

const PLUGIN = 'image_conversion';
/** `info` of a qcow2 with thousands of snapshots runs to megabytes; more than this is hostile. */
const MAX_INFO_OUTPUT = 8 * 1024 * 1024;
const MAX_CONVERT_OUTPUT = 1024 * 1024;

/**
 * `qemu-img info -f <driver> --output=json <path>`. The driver is always given, so qemu-img never
 * guesses the format from the bytes. Paths are made absolute: qemu-img reads `name:...` before
 * any slash as a protocol (`json:`, `nbd:`), and a leading `-` as an option.
 */
export async function qemuImgInfo(settings: QemuImgSettings, path: string, driver: string, signal: AbortSignal): Promise<QemuImageInfo> {
  const file = resolve(path);
  const { stdout } = await runLimited({
    label: 'qemu-img info',
    plugin: PLUGIN,
    prlimit: settings.prlimitPath,
    command: settings.qemuImgPath,
    args: ['info', '-f', driver, '--output=json', file],
    limits: settings.infoLimits,
    signal,
    maxStdoutBytes: MAX_INFO_OUTPUT,
    describeStderr: (stderr) => hidePaths(stderr, [[file, 'the image']]),
  });
  return parseQemuImageInfo(stdout);
}

/** `qemu-img convert -f <from> -O <to> <input> <output>`; the output file is the caller's to remove on failure. */
export async function qemuImgConvert(
  settings: QemuImgSettings,
  input: { readonly path: string; readonly driver: string },
  output: { readonly path: string; readonly driver: string },
  signal: AbortSignal,
): Promise<void> {
  const from = resolve(input.path);
  const to = resolve(output.path);
  await runLimited({
    label: 'qemu-img convert',
    plugin: PLUGIN,
    prlimit: settings.prlimitPath,
    command: settings.qemuImgPath,
    args: ['convert', '-f', input.driver, '-O', output.driver, from, to],
    limits: settings.convertLimits,
    signal,
    maxStdoutBytes: MAX_CONVERT_OUTPUT,
    describeStderr: (stderr) =>
      hidePaths(stderr, [
        [from, 'the image'],
        [to, 'the output'],
      ]),
  });
}

/** qemu-img names the files it was given; the message goes to the image owner, who has no business with our paths. */
function hidePaths(text: string, names: readonly (readonly [string, string])[]): string {
  return names.reduce((result, [path, name]) => result.replaceAll(path, name), text);
}
