import { BASE_ATTRIBUTES } from '../../images/image-schema.js';
import type { ImportPlugin, PluginContext, PluginOutcome, StagedImage } from './import-plugin.js';
import { unchanged } from './import-plugin.js';

export interface InjectImageMetadataOptions {
  /** `[inject_metadata_properties] inject`: the properties to set. */
  readonly inject: Readonly<Record<string, string>>;
  /** `[inject_metadata_properties] ignore_user_roles`: a user with any of these roles gets nothing injected. */
  readonly ignoreUserRoles: readonly string[];
}

/** Glance's default `ignore_user_roles`. */
export const DEFAULT_IGNORE_USER_ROLES: readonly string[] = ['admin'];

const NAME = 'inject_image_metadata';

/**
 * `inject_image_metadata` (reference §9.7): sets the operator's properties on images that users
 * import, unless the user holds one of `ignore_user_roles`.
 */
export function injectImageMetadataPlugin(options: InjectImageMetadataOptions): ImportPlugin {
  return { name: NAME, run: (staged, context) => Promise.resolve(inject(staged, context, options)) };
}

function inject(staged: StagedImage, context: PluginContext, options: InjectImageMetadataOptions): PluginOutcome {
  const imageId = context.image.id;
  const role = context.roles.find((r) => options.ignoreUserRoles.includes(r));
  if (role !== undefined) {
    context.log.info({ imageId, role }, `inject_image_metadata: not injecting properties, the user has the role ${role}`);
    return unchanged(staged);
  }
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.inject)) {
    // The os_glance prefix is the server's own (reference §9.4 "Reserved os_glance_* properties"),
    // os_glimpse_ is ours; neither is the operator's to inject.
    if (key.startsWith('os_glance') || key.startsWith('os_glimpse_')) {
      context.log.warn({ imageId, key }, `inject_image_metadata: not injecting ${key}, a reserved property name`);
      continue;
    }
    // Glance would store these as extra properties shadowing the image's own attributes
    // (`name`, `disk_format`, ...); an injected property is an extra property or nothing.
    if (BASE_ATTRIBUTES.has(key)) {
      context.log.warn({ imageId, key }, `inject_image_metadata: not injecting ${key}, the name of an image attribute`);
      continue;
    }
    properties[key] = value;
  }
  return unchanged(staged, properties);
}
