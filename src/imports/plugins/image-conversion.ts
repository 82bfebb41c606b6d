import { stat } from 'node:fs/promises';
import type { ImportPlugin, PluginContext, PluginOutcome, StagedImage } from './import-plugin.js';
import { ImportPluginError, pluginFailure } from './import-plugin-error.js';
import { inspectFile, requireInspectionPass } from './inspect-staged-file.js';
import { checkQemuImageInfo } from './qemu-image-info.js';
import { qemuImgConvert, qemuImgInfo, type QemuImgSettings } from './qemu-img.js';
import { discardFile, workFilePath } from './work-file.js';

/** `[image_conversion] output_format` (reference §9.7). */
export type ConversionOutputFormat = 'raw' | 'qcow2' | 'vmdk';

export interface ImageConversionOptions {
  /** `[image_conversion] output_format`; Glance's default is raw. */
  readonly outputFormat: ConversionOutputFormat;
  /** `[image_format] vmdk_allowed_types`. */
  readonly vmdkAllowedTypes: readonly string[];
  /** `image_size_cap`, or null for none: a conversion whose output would exceed it is refused. */
  readonly maxBytes: number | null;
  readonly qemuImg: QemuImgSettings;
}

const NAME = 'image_conversion';

/**
 * The disk formats we convert from, and the qemu driver that reads each. Glance converts only
 * from formats its inspector knows (anything else: "Unable to convert from format"); an ISO or a
 * raw kernel (`aki`) is not a disk qemu-img should rewrite. VHD is `vpc` to qemu.
 */
const QEMU_DRIVERS: ReadonlyMap<string, string> = new Map([
  ['raw', 'raw'],
  ['qcow2', 'qcow2'],
  ['vmdk', 'vmdk'],
  ['vhd', 'vpc'],
  ['vhdx', 'vhdx'],
  ['vdi', 'vdi'],
  ['qed', 'qed'],
]);

/**
 * `image_conversion` (reference §9.7): checks the staged image with our own inspector, then
 * with qemu-img, and only then converts it to `output_format`.
 */
export function imageConversionPlugin(options: ImageConversionOptions): ImportPlugin {
  return { name: NAME, run: (staged, context) => convert(staged, context, options) };
}

async function convert(staged: StagedImage, context: PluginContext, options: ImageConversionOptions): Promise<PluginOutcome> {
  const { signal } = context;
  const driver = QEMU_DRIVERS.get(staged.diskFormat);
  if (driver === undefined) throw new ImportPluginError(NAME, 'UNSUPPORTED_FORMAT', `Unable to convert from format ${staged.diskFormat}`);

  // Our parser first, before qemu-img opens the file at all: CVE-2024-32498 was qemu-img
  // following a data-file of an image nobody had looked at (glance-lessons "Disk-format parsing").
  const inspection = await inspectFile(staged.path, signal).catch((error: unknown) => {
    throw pluginFailure(NAME, error, signal, 'Reading the image for format inspection');
  });
  requireInspectionPass(NAME, inspection, staged.diskFormat, options.vmdkAllowedTypes, 'The image');

  const info = await qemuImgInfo(options.qemuImg, staged.path, driver, signal);
  checkQemuImageInfo(info, { diskFormat: staged.diskFormat, driver }, options.vmdkAllowedTypes);
  const virtualSize = info.virtualSize;
  context.log.info({ imageId: context.image.id, diskFormat: staged.diskFormat, virtualSize }, 'image_conversion: image passed its safety checks');

  if (staged.diskFormat === options.outputFormat) return { staged: { ...staged, size: inspection.size }, virtualSize, properties: {} };
  // A raw file is as long as the disk; refuse before writing it rather than after.
  if (options.maxBytes !== null && options.outputFormat === 'raw' && virtualSize > options.maxBytes) throw tooLarge(virtualSize, options.maxBytes);

  const output = workFilePath(context.workDir, context.image.id, options.outputFormat);
  try {
    await qemuImgConvert(options.qemuImg, { path: staged.path, driver }, { path: output, driver: options.outputFormat }, signal);
    const { size } = await stat(output);
    if (options.maxBytes !== null && size > options.maxBytes) throw tooLarge(size, options.maxBytes);
    // What qemu-img wrote is checked like any image (Glance f54f6b3b1 checks conversion output too).
    requireInspectionPass(NAME, await inspectFile(output, signal), options.outputFormat, options.vmdkAllowedTypes, 'The converted image');
    context.log.info(
      { imageId: context.image.id, from: staged.diskFormat, to: options.outputFormat, size },
      `image_conversion: converted the image from ${staged.diskFormat} to ${options.outputFormat}`,
    );
    return { staged: { path: output, diskFormat: options.outputFormat, containerFormat: 'bare', size }, virtualSize, properties: {} };
  } catch (error) {
    await discardFile(output);
    throw pluginFailure(NAME, error, signal, 'Converting the image');
  }
}

function tooLarge(size: number, maxBytes: number): ImportPluginError {
  return new ImportPluginError(
    NAME,
    'SIZE_LIMIT',
    `The converted image would be ${size} bytes, more than the ${maxBytes} bytes an image may be (image_size_cap)`,
  );
}
