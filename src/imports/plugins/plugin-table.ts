import { imageConversionPlugin, type ImageConversionOptions } from './image-conversion.js';
import { imageDecompressionPlugin, type ImageDecompressionOptions } from './image-decompression.js';
import type { ImportPlugin } from './import-plugin.js';
import { ImportPluginError } from './import-plugin-error.js';
import { injectImageMetadataPlugin, type InjectImageMetadataOptions } from './inject-image-metadata.js';
import { noOpPlugin } from './no-op.js';

/** Every plugin's settings, from glance-image-import.conf and glance-api.conf. */
export interface PluginOptions {
  readonly imageConversion: ImageConversionOptions;
  readonly imageDecompression: ImageDecompressionOptions;
  readonly injectImageMetadata: InjectImageMetadataOptions;
}

/** The names `[image_import_opts] image_import_plugins` accepts (reference §9.7). */
export type PluginName = 'no_op' | 'image_conversion' | 'image_decompression' | 'inject_image_metadata';

const PLUGINS: { readonly [name in PluginName]: (options: PluginOptions) => ImportPlugin } = {
  no_op: () => noOpPlugin(),
  image_conversion: (options) => imageConversionPlugin(options.imageConversion),
  image_decompression: (options) => imageDecompressionPlugin(options.imageDecompression),
  inject_image_metadata: (options) => injectImageMetadataPlugin(options.injectImageMetadata),
};

export const PLUGIN_NAMES: readonly PluginName[] = Object.keys(PLUGINS) as PluginName[];

export function isPluginName(name: string): name is PluginName {
  return Object.hasOwn(PLUGINS, name);
}

/**
 * The plugins `image_import_plugins` lists, in its order. An unknown name is refused here, when
 * the configuration is read, rather than in the middle of somebody's import.
 */
export function buildPlugins(names: readonly string[], options: PluginOptions): ImportPlugin[] {
  return names.map((name) => {
    if (!isPluginName(name)) {
      throw new ImportPluginError(
        name,
        'UNKNOWN_PLUGIN',
        `Unknown import plugin ${JSON.stringify(name)} in [image_import_opts] image_import_plugins (known: ${PLUGIN_NAMES.join(', ')})`,
      );
    }
    return PLUGINS[name](options);
  });
}
