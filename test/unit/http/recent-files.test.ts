import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentFiles } from '../../../src/http/recent-files.js';

describe('recent files (second-download admission to the page cache)', () => {
  it('says a key is recent only when seen before within the window', () => {
    let now = 0;
    const recent = new RecentFiles(1000, 10, () => now);
    assert.equal(recent.touch('a'), false, 'first time');
    now = 999;
    assert.equal(recent.touch('a'), true, 'again within the window');
    now = 2000;
    assert.equal(recent.touch('a'), false, 'more than the window after the last time');
    assert.equal(recent.touch('a'), true, 'and remembered from then on');
  });

  it('forgets the least recently seen keys past its capacity', () => {
    const recent = new RecentFiles(60_000, 2, () => 0);
    recent.touch('a');
    recent.touch('b');
    recent.touch('a');
    recent.touch('c');
    assert.equal(recent.touch('a'), true, 'touched most recently but one');
    assert.equal(recent.touch('b'), false, 'forgotten when c came');
  });
});
