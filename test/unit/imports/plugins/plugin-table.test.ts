import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_VMDK_ALLOWED_TYPES } from '../../../../src/images/format-inspection/format-policy.js';
import type { StagedImage } from '../../../../src/imports/plugins/import-plugin.js';
import { ImportPluginError } from '../../../../src/imports/plugins/import-plugin-error.js';
import { buildPlugins, isPluginName, PLUGIN_NAMES, type PluginOptions } from '../../../../src/imports/plugins/plugin-table.js';
import { DEFAULT_QEMU_IMG_SETTINGS } from '../../../../src/imports/plugins/qemu-img.js';
import { pluginContext } from './plugin-fixtures.js';

/** The table `[image_import_opts] image_import_plugins` is read against (reference §9.7). */

const options: PluginOptions = {
  imageConversion: { outputFormat: 'raw', vmdkAllowedTypes: DEFAULT_VMDK_ALLOWED_TYPES, maxBytes: null, qemuImg: DEFAULT_QEMU_IMG_SETTINGS },
  imageDecompression: { maxBytes: 1024 },
  injectImageMetadata: { inject: {}, ignoreUserRoles: ['admin'] },
};

describe('import plugin table', () => {
  it('builds the listed plugins in the listed order', () => {
    const names = ['image_decompression', 'no_op', 'inject_image_metadata', 'image_conversion'];
    assert.deepEqual(
      buildPlugins(names, options).map((p) => p.name),
      names,
    );
    assert.deepEqual(buildPlugins([], options), []);
    assert.deepEqual([...PLUGIN_NAMES].sort(), ['image_conversion', 'image_decompression', 'inject_image_metadata', 'no_op']);
    assert.equal(isPluginName('toString'), false);
  });

  it('refuses an unknown plugin, naming it', () => {
    assert.throws(
      () => buildPlugins(['no_op', 'image_convertion'], options),
      (error: unknown) => {
        assert.ok(error instanceof ImportPluginError);
        assert.equal(error.code, 'UNKNOWN_PLUGIN');
        assert.equal(error.plugin, 'image_convertion');
        assert.match(error.message, /Unknown import plugin "image_convertion" in \[image_import_opts\] image_import_plugins \(known: no_op, image_conversion/);
        return true;
      },
    );
  });

  it('no_op logs and changes nothing', async () => {
    const [noOp] = buildPlugins(['no_op'], options);
    const staged: StagedImage = { path: '/staging/image', diskFormat: 'raw', containerFormat: 'bare', size: 1 };
    const context = pluginContext('/work');
    assert.deepEqual(await noOp!.run(staged, context), { staged, virtualSize: null, properties: {} });
    assert.equal(context.entries.length, 1);
  });
});
