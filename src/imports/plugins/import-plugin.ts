import type { Logger } from '../../ports/logger.js';

/**
 * The contract of Glance's import plugins (reference §9.7): steps `[image_import_opts]
 * image_import_plugins` runs, in order, on the staged file of an interoperable import before it
 * goes to the stores (§9.4 step 4).
 *
 * Files: a plugin never changes or removes the file it is given. When it rewrites the data
 * (conversion, decompression) it writes a new file under `workDir` and returns that path; the
 * flow that runs the plugins owns every file, and may remove an intermediate one as soon as the
 * next plugin has returned. A plugin that fails leaves no file of its own behind.
 */

/** The image data as it stands between two plugins. */
export interface StagedImage {
  /** Absolute path of the file holding the data. */
  readonly path: string;
  readonly diskFormat: string;
  readonly containerFormat: string;
  /** The file's size in bytes. */
  readonly size: number;
}

export interface PluginContext {
  readonly image: { readonly id: string; readonly properties: Readonly<Record<string, string>> };
  /** The roles of the user who asked for the import (`inject_image_metadata` reads them). */
  readonly roles: readonly string[];
  /** Aborts the plugin (the task was cancelled or the image deleted); it stops its tools and cleans up. */
  readonly signal: AbortSignal;
  /** Where a plugin writes the files it produces. */
  readonly workDir: string;
  readonly log: Pick<Logger, 'info' | 'warn'>;
}

/**
 * What a plugin changed. The image's disk_format, container_format and size follow `staged`
 * (the flow sets them from the last plugin's file), so they are not repeated here.
 */
export interface PluginOutcome {
  readonly staged: StagedImage;
  /** The guest-visible size, when the plugin learnt it (`image_conversion` records it); null otherwise. */
  readonly virtualSize: number | null;
  /** Extra properties to set on the image. */
  readonly properties: Readonly<Record<string, string>>;
}

export interface ImportPlugin {
  /** The name in `image_import_plugins` (`image_conversion`, ...). */
  readonly name: string;
  run(staged: StagedImage, context: PluginContext): Promise<PluginOutcome>;
}

/** The outcome of a plugin that left the data as it was. */
export function unchanged(staged: StagedImage, properties: Readonly<Record<string, string>> = {}): PluginOutcome {
  return { staged, virtualSize: null, properties };
}
