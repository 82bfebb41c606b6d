import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onConfiguredOrigin, v3FromVersionDocument } from '../../../src/identity/keystone/version-discovery.js';

/** Keystone's version documents, in the shapes Keystone (and other deployments of it) serve. */
const entry = (id: string, status: string, href: string): Record<string, unknown> => ({
  id,
  status,
  updated: '2020-04-07T00:00:00Z',
  links: [{ rel: 'self', href }],
  'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
});

describe('Keystone version discovery', () => {
  it('reads the 300 Multiple Choices list at the unversioned root', () => {
    const body = { versions: { values: [entry('v3.14', 'stable', 'http://keystone:5000/v3/')] } };
    assert.equal(v3FromVersionDocument('http://keystone:5000', body), 'http://keystone:5000/v3');
  });

  it('reads the single version at /v3, and keeps a path prefix', () => {
    const body = { version: entry('v3.14', 'stable', 'http://host/identity/v3/') };
    assert.equal(v3FromVersionDocument('http://host/identity/v3', body), 'http://host/identity/v3');
  });

  it('skips v2.0, prefers a usable status, then the highest minor version', () => {
    const body = {
      versions: {
        values: [
          entry('v2.0', 'deprecated', 'http://k/v2.0/'),
          entry('v3.8', 'deprecated', 'http://k/old/v3/'),
          entry('v3.10', 'current', 'http://k/v3/'),
          entry('v3.2', 'supported', 'http://k/v3.2/'),
        ],
      },
    };
    assert.equal(v3FromVersionDocument('http://k', body), 'http://k/v3');
    assert.equal(v3FromVersionDocument('http://k', { versions: { values: [entry('v2.0', 'stable', 'http://k/v2.0/')] } }), null);
  });

  it('accepts a bare list, relative links, and refuses what is not a version document', () => {
    assert.equal(v3FromVersionDocument('http://k:5000/identity', { versions: [entry('v3', 'stable', '/identity/v3/')] }), 'http://k:5000/identity/v3');
    assert.equal(v3FromVersionDocument('http://k', { error: { code: 404 } }), null);
    assert.equal(v3FromVersionDocument('http://k', 'Not Found'), null);
    assert.equal(v3FromVersionDocument('http://k', { version: { id: 'v3.14', links: [] } }), null);
  });

  it('keeps the configured scheme, host and port: Keystone behind a TLS proxy or with public_endpoint set', () => {
    assert.equal(
      onConfiguredOrigin('https://keystone.internal:443/identity', 'http://keystone.internal:443/identity/v3'),
      'https://keystone.internal/identity/v3',
    );
    assert.equal(onConfiguredOrigin('http://10.0.0.5:5000', 'https://cloud.example.com:5000/v3/'), 'http://10.0.0.5:5000/v3');
  });
});
