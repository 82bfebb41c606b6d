import { ImportPluginError } from './import-plugin-error.js';

/** What `qemu-img info --output=json` says about an image, as far as the conversion checks need. */
export interface QemuImageInfo {
  /** The qemu driver that read it (`qcow2`, `raw`, `vpc` for VHD, ...). */
  readonly format: string;
  readonly virtualSize: number;
  /** `backing-filename`, if any. */
  readonly backingFile: string | null;
  /** A qcow2's external `data-file`, if any. */
  readonly dataFile: string | null;
  /** A VMDK's `create-type`, if reported. */
  readonly vmdkCreateType: string | null;
}

const PLUGIN = 'image_conversion';

/** Reads qemu-img's JSON, trusting no field to be there or to have the right type. */
export function parseQemuImageInfo(json: string): QemuImageInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new ImportPluginError(PLUGIN, 'TOOL_FAILED', 'qemu-img info printed something that is not JSON', { cause: error });
  }
  const format = field(parsed, 'format');
  const virtualSize = field(parsed, 'virtual-size');
  if (typeof format !== 'string') throw new ImportPluginError(PLUGIN, 'TOOL_FAILED', 'qemu-img info did not report the image format');
  if (typeof virtualSize !== 'number' || !Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    throw new ImportPluginError(PLUGIN, 'TOOL_FAILED', 'qemu-img info did not report a valid virtual size');
  }
  const specific = field(field(parsed, 'format-specific'), 'data');
  return {
    format,
    virtualSize,
    backingFile: text(field(parsed, 'backing-filename')) ?? text(field(parsed, 'full-backing-filename')),
    dataFile: text(field(specific, 'data-file')),
    vmdkCreateType: format === 'vmdk' ? text(field(specific, 'create-type')) : null,
  };
}

/**
 * The checks Glance makes on qemu-img's answer before it converts (reference §9.7 "Safety checks
 * first"). The format inspector has already refused these images; asking qemu-img as well means
 * a gap between the two parsers cannot let one through. Throws on the first problem.
 */
export function checkQemuImageInfo(
  info: QemuImageInfo,
  declared: { readonly diskFormat: string; readonly driver: string },
  vmdkAllowedTypes: readonly string[],
): void {
  if (info.format !== declared.driver) {
    throw new ImportPluginError(
      PLUGIN,
      'FORMAT_MISMATCH',
      `Image metadata disagrees about format: disk_format is ${declared.diskFormat} but qemu-img reads the image as ${shown(info.format)}`,
    );
  }
  if (info.backingFile !== null) {
    throw new ImportPluginError(PLUGIN, 'UNSAFE_IMAGE', `QCOW images with backing files are not allowed (backing file ${shown(info.backingFile)})`);
  }
  if (info.dataFile !== null) {
    throw new ImportPluginError(PLUGIN, 'UNSAFE_IMAGE', `QCOW images with data-file set are not allowed (data-file ${shown(info.dataFile)})`);
  }
  if (info.format === 'vmdk') {
    if (info.vmdkCreateType === null) throw new ImportPluginError(PLUGIN, 'UNSAFE_IMAGE', 'Unable to determine VMDK create-type');
    if (!vmdkAllowedTypes.includes(info.vmdkCreateType)) {
      const allowed = vmdkAllowedTypes.length === 0 ? 'none is allowed' : `allowed: ${vmdkAllowedTypes.join(', ')}`;
      throw new ImportPluginError(PLUGIN, 'UNSAFE_IMAGE', `Invalid VMDK create-type ${shown(info.vmdkCreateType)} (${allowed})`);
    }
  }
}

function field(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return (value as Record<string, unknown>)[key];
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** Names chosen by whoever made the image, quoted and cut short for a message. */
function shown(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
}
