import type { ImportPlugin } from './import-plugin.js';
import { unchanged } from './import-plugin.js';

/** `no_op` (reference §9.7): logs that it ran and changes nothing; Glance's sample plugin. */
export function noOpPlugin(): ImportPlugin {
  return {
    name: 'no_op',
    run: (staged, context) => {
      context.log.info({ imageId: context.image.id }, 'no_op: import plugin ran');
      return Promise.resolve(unchanged(staged));
    },
  };
}
