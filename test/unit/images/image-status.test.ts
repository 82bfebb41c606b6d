import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, InvalidInputError } from '../../../src/errors/domain-errors.js';
import { checkTransition, IMAGE_STATUSES, isTransitionAllowed, STATUS_TRANSITIONS } from '../../../src/images/image-status.js';

describe('image status state machine', () => {
  it('walks the whole table: exactly the listed transitions are allowed', () => {
    let allowed = 0;
    for (const from of IMAGE_STATUSES) {
      for (const to of IMAGE_STATUSES) {
        const expected = STATUS_TRANSITIONS[from].includes(to);
        assert.equal(isTransitionAllowed(from, to), expected, `${from} -> ${to}`);
        if (expected) allowed += 1;
      }
    }
    // reference §2.9 lists 23 transitions; Glimpse adds deactivated → pending_delete because every
    // delete of an image with data passes through pending_delete (crash-safe purge).
    assert.equal(allowed, 24);
    assert.ok(isTransitionAllowed('deactivated', 'pending_delete'));
  });

  it('deleted is terminal', () => {
    for (const to of IMAGE_STATUSES) assert.equal(isTransitionAllowed('deleted', to), false);
  });

  it("refuses a forbidden transition with Glance's 409 message", () => {
    assert.throws(
      () => checkTransition('active', 'saving', { diskFormat: 'raw', containerFormat: 'bare' }),
      (error: unknown) => {
        assert.ok(error instanceof ConflictError);
        assert.equal(error.message, 'Image status transition from active to saving is not allowed');
        return true;
      },
    );
  });

  it('needs both formats before data-bearing states', () => {
    assert.throws(
      () => checkTransition('queued', 'saving', { diskFormat: null, containerFormat: 'bare' }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidInputError);
        assert.equal(error.message, 'Property disk_format must be set prior to saving data.');
        return true;
      },
    );
    assert.throws(() => checkTransition('queued', 'active', { diskFormat: null, containerFormat: null }), /Properties disk_format, container_format/);
    assert.doesNotThrow(() => checkTransition('queued', 'saving', { diskFormat: 'raw', containerFormat: 'bare' }));
    assert.doesNotThrow(() => checkTransition('queued', 'deleted', { diskFormat: null, containerFormat: null }));
  });
});
