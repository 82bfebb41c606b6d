import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StagedImage } from '../../../../src/imports/plugins/import-plugin.js';
import { DEFAULT_IGNORE_USER_ROLES, injectImageMetadataPlugin } from '../../../../src/imports/plugins/inject-image-metadata.js';
import { pluginContext } from './plugin-fixtures.js';

/** inject_image_metadata (reference §9.7): the operator's properties, unless the user holds an ignored role. */

const staged: StagedImage = { path: '/staging/image', diskFormat: 'qcow2', containerFormat: 'bare', size: 1234 };
const inject = { hw_qemu_guest_agent: 'yes', company: 'example', os_glance_importing_to_stores: 'x', os_glance: 'y', os_glimpse_note: 'z', name: 'renamed' };
const plugin = injectImageMetadataPlugin({ inject, ignoreUserRoles: DEFAULT_IGNORE_USER_ROLES });

describe('inject_image_metadata', () => {
  it('injects the properties for a user without an ignored role, dropping reserved names with a warning', async () => {
    const context = pluginContext('/work', { roles: ['member', 'reader'] });
    const outcome = await plugin.run(staged, context);
    assert.deepEqual(outcome.properties, { hw_qemu_guest_agent: 'yes', company: 'example' });
    assert.deepEqual(outcome.staged, staged);
    assert.equal(outcome.virtualSize, null);
    const warned = context.entries.filter((e) => e.level === 'warn').map((e) => e.fields['key']);
    assert.deepEqual(warned, ['os_glance_importing_to_stores', 'os_glance', 'os_glimpse_note', 'name']);
  });

  it('injects nothing for a user with an ignored role', async () => {
    const context = pluginContext('/work', { roles: ['reader', 'admin'] });
    const outcome = await plugin.run(staged, context);
    assert.deepEqual(outcome.properties, {});
    assert.deepEqual(outcome.staged, staged);
    assert.match(context.entries[0]?.message ?? '', /the user has the role admin/);
  });

  it('follows the configured roles: an empty list ignores nobody', async () => {
    const everyone = injectImageMetadataPlugin({ inject: { company: 'example' }, ignoreUserRoles: [] });
    assert.deepEqual((await everyone.run(staged, pluginContext('/work', { roles: ['admin'] }))).properties, { company: 'example' });
    const operators = injectImageMetadataPlugin({ inject: { company: 'example' }, ignoreUserRoles: ['operator'] });
    assert.deepEqual((await operators.run(staged, pluginContext('/work', { roles: ['operator'] }))).properties, {});
  });
});
