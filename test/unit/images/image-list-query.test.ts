import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../../src/errors/domain-errors.js';
import { parseListQuery, splitInList } from '../../../src/images/image-list-query.js';

const limits = { limitParamDefault: 25, apiLimitMax: 1000 };
const parse = (entries: [string, string][]) => {
  const params = new Map<string, string[]>();
  for (const [k, v] of entries) params.set(k, [...(params.get(k) ?? []), v]);
  return parseListQuery(params, limits);
};
const rejects = (entries: [string, string][], message: string | RegExp) =>
  assert.throws(
    () => parse(entries),
    (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, String(error));
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    },
  );

describe('list query parsing (reference §2.4)', () => {
  it('defaults: limit 25, created_at desc then id desc, accepted shares, not hidden', () => {
    const q = parse([]);
    assert.equal(q.limit, 25);
    assert.deepEqual(q.sort, [
      { key: 'created_at', dir: 'desc' },
      { key: 'id', dir: 'desc' },
    ]);
    assert.equal(q.memberStatus, 'accepted');
    assert.equal(q.osHidden, false);
    assert.equal(q.visibility, null);
  });

  it('caps the limit at api_limit_max and validates it', () => {
    assert.equal(parse([['limit', '5000']]).limit, 1000);
    rejects([['limit', 'x']], 'limit param must be an integer');
    rejects([['limit', '-1']], 'limit param must be positive');
  });

  it('classic sort: one dir applies to all keys, tie-breakers use the first dir', () => {
    const q = parse([
      ['sort_key', 'name'],
      ['sort_key', 'size'],
      ['sort_dir', 'asc'],
    ]);
    assert.deepEqual(q.sort, [
      { key: 'name', dir: 'asc' },
      { key: 'size', dir: 'asc' },
      { key: 'created_at', dir: 'asc' },
      { key: 'id', dir: 'asc' },
    ]);
    rejects(
      [
        ['sort_key', 'name'],
        ['sort_key', 'size'],
        ['sort_key', 'id'],
        ['sort_dir', 'asc'],
        ['sort_dir', 'desc'],
      ],
      'Number of sort dirs does not match the number of sort keys',
    );
    rejects([['sort_key', 'owner']], /^Invalid sort key: owner\. It must be one of the following: name, status/);
    rejects([['sort_dir', 'up']], 'Invalid sort direction: up');
  });

  it('new sort syntax defaults to desc and cannot mix with the old one', () => {
    const q = parse([['sort', 'name:asc,size']]);
    assert.deepEqual(q.sort.slice(0, 2), [
      { key: 'name', dir: 'asc' },
      { key: 'size', dir: 'desc' },
    ]);
    rejects(
      [
        ['sort', 'name'],
        ['sort_key', 'id'],
      ],
      'Old and new sorting syntax cannot be combined',
    );
  });

  it('validates visibility, member_status, os_hidden and protected', () => {
    assert.equal(parse([['visibility', 'all']]).visibility, 'all');
    rejects([['visibility', 'everyone']], 'Invalid visibility value: everyone');
    rejects([['member_status', 'maybe']], 'Invalid status: maybe');
    assert.equal(parse([['os_hidden', 'TRUE']]).osHidden, true);
    rejects([['os_hidden', 'yes']], "Invalid value 'yes' for 'os_hidden' filter. Valid values are 'true' or 'false'.");
    rejects([['protected', 'True']], /protected/);
    assert.equal(parse([['protected', 'false']]).protected, false);
  });

  it('parses in:, eq: and refuses other operators on name-like columns', () => {
    assert.deepEqual(parse([['name', 'in:a,b']]).columns, [{ column: 'name', values: ['a', 'b'] }]);
    assert.deepEqual(parse([['name', 'eq:a:b']]).columns, [{ column: 'name', values: ['a:b'] }]);
    rejects([['status', 'like:act']], "Unable to filter by unknown operator 'like'.");
  });

  it('splits quoted in: lists', () => {
    assert.deepEqual(splitInList('"a,b",c'), ['a,b', 'c']);
    assert.throws(() => splitInList('"a,b'), /The quote is not closed/);
    assert.throws(() => splitInList('"a"b'), /no comma after closing quotation mark/);
    assert.throws(() => splitInList('a"b"'), /no comma before opening quotation mark/);
  });

  it('size ranges must be numeric; time filters take operators', () => {
    assert.deepEqual(
      parse([
        ['size_min', '10'],
        ['size_max', '20'],
      ]).ranges,
      [
        { column: 'size', bound: 'min', value: 10 },
        { column: 'size', bound: 'max', value: 20 },
      ],
    );
    rejects([['size_min', 'ten']], 'Unable to filter on a range with a non-numeric value.');
    const q = parse([['created_at', 'gte:2024-01-02T03:04:05Z']]);
    assert.equal(q.times[0]?.op, 'gte');
    assert.equal(q.times[0].at.toISOString(), '2024-01-02T03:04:05.000Z');
    rejects([['created_at', 'gte:yesterday']], 'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.');
    rejects([['updated_at', 'around:2024-01-01T00:00:00Z']], 'Unable to filter on a unknown operator.');
  });

  it('any other parameter filters on an extra property; tags repeat', () => {
    const q = parse([
      ['os_distro', 'debian'],
      ['tag', 'a'],
      ['tag', 'b'],
    ]);
    assert.equal(q.properties.get('os_distro'), 'debian');
    assert.deepEqual(q.tags, ['a', 'b']);
    rejects([['changes-since', '2020-01-01']], 'The "changes-since" filter is no longer available on v2.');
  });
});
