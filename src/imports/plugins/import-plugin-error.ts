/**
 * Why an import plugin failed. The message is the task's failure message (reference §9.4, "On
 * any failure the revert runs"), so it says what was refused or what broke, in words an image
 * owner can act on, and never names a path on this host.
 */
export type ImportPluginErrorCode =
  /** The data is in a format the plugin does not handle (conversion from `iso`, LHA archives, ...). */
  | 'UNSUPPORTED_FORMAT'
  /** Format inspection or qemu-img found something unsafe: a backing file, a data-file, a disallowed VMDK type. */
  | 'UNSAFE_IMAGE'
  /** The content is not the declared disk_format. */
  | 'FORMAT_MISMATCH'
  /** An archive that cannot be read, holds other than one file, or fails its own checks. */
  | 'INVALID_ARCHIVE'
  /** The result would be larger than the image may be (image_size_cap): a decompression bomb, an oversized conversion. */
  | 'SIZE_LIMIT'
  /** An external tool (qemu-img) could not run or exited with an error. */
  | 'TOOL_FAILED'
  /** An external tool went past its CPU, memory, output or wall-clock limit and was killed. */
  | 'TOOL_LIMIT'
  /** Reading or writing a file failed (no space left, ...). */
  | 'IO_FAILED'
  /** The plugin was cancelled through its AbortSignal. */
  | 'ABORTED'
  /** `image_import_plugins` names a plugin that does not exist. */
  | 'UNKNOWN_PLUGIN';

export class ImportPluginError extends Error {
  override readonly name = 'ImportPluginError';

  constructor(
    /** The plugin that failed (`image_conversion`, ...). */
    readonly plugin: string,
    readonly code: ImportPluginErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Any failure of a plugin's own work as an ImportPluginError: ours pass through, a cancellation
 * becomes ABORTED, and anything else (a filesystem error) IO_FAILED described by `what`.
 */
export function pluginFailure(plugin: string, error: unknown, signal: AbortSignal, what: string): ImportPluginError {
  if (error instanceof ImportPluginError) return error;
  if (signal.aborted) return new ImportPluginError(plugin, 'ABORTED', `${what} was cancelled`, { cause: error });
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : null;
  return new ImportPluginError(plugin, 'IO_FAILED', `${what} failed${code === null ? '' : ` (${code})`}`, { cause: error });
}
