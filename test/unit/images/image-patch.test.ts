import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError, UnsupportedMediaTypeError } from '../../../src/errors/domain-errors.js';
import { decodePointer, parsePatch, patchStyleFor } from '../../../src/images/image-patch.js';

describe('JSON patch parsing (reference §2.5)', () => {
  it('chooses the style by media type and refuses others with Accept-Patch', () => {
    assert.equal(patchStyleFor('application/openstack-images-v2.1-json-patch'), 'v2.1');
    assert.equal(patchStyleFor('application/openstack-images-v2.0-json-patch; charset=utf-8'), 'v2.0');
    assert.throws(
      () => patchStyleFor('application/json'),
      (error: unknown) => {
        assert.ok(error instanceof UnsupportedMediaTypeError);
        assert.match(error.headers['Accept-Patch'] ?? '', /v2\.0-json-patch, application\/openstack-images-v2\.1-json-patch/);
        return true;
      },
    );
  });

  it('parses both styles', () => {
    assert.deepEqual(parsePatch([{ op: 'replace', path: '/name', value: 'x' }], 'v2.1'), [{ op: 'replace', path: ['name'], value: 'x' }]);
    assert.deepEqual(parsePatch([{ add: '/a~1b', value: 'y' }], 'v2.0'), [{ op: 'add', path: ['a/b'], value: 'y' }]);
    assert.deepEqual(parsePatch([{ op: 'remove', path: '/k' }], 'v2.1'), [{ op: 'remove', path: ['k'], value: undefined }]);
  });

  it("gives Glance's messages for malformed operations", () => {
    const bad = (body: unknown, style: 'v2.0' | 'v2.1', message: RegExp) =>
      assert.throws(
        () => parsePatch(body, style),
        (error: unknown) => error instanceof InvalidInputError && message.test(error.message),
      );
    bad({}, 'v2.1', /must be a JSON array/);
    bad([1], 'v2.1', /Operations must be JSON objects/);
    bad([{ path: '/x' }], 'v2.1', /Unable to find `op`/);
    bad([{ op: 'move', path: '/x' }], 'v2.1', /Invalid operation: `move`/);
    bad([{ op: 'add', value: 1 }], 'v2.1', /Unable to find 'path'/);
    bad([{ op: 'add', path: '/x' }], 'v2.1', /requires a member named "value"/);
    bad([{ add: '/x', remove: '/y', value: 1 }], 'v2.0', /only one member/);
    bad([{ value: 1 }], 'v2.0', /exactly one member/);
    bad([{ op: 'add', path: '/tags/-', value: 'x' }], 'v2.1', /Invalid JSON pointer for this resource: '\/tags\/-'/);
  });

  it('checks JSON pointers', () => {
    assert.deepEqual(decodePointer('/a~0b'), ['a~b']);
    assert.throws(() => decodePointer('name'), /does not start with "\/"/);
    assert.throws(() => decodePointer('/a//b'), /adjacent/);
    assert.throws(() => decodePointer('/a/'), /adjacent/);
    assert.throws(() => decodePointer('/a~2'), /recognized escape/);
  });
});
