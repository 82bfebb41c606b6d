import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SWIFT_STORE_OPTIONS, type SectionValues } from '../../src/config/options.js';
import { StoreUnavailableError } from '../../src/stores/store-errors.js';
import { storeDriver } from '../../src/stores/store-drivers.js';
import type { ImageStore } from '../../src/stores/image-store.js';
import { describeImageStore } from '../support/store-conformance.js';
import { keystoneToken, registerEndpoint, startKeystone, type KeystoneServer } from '../support/keystone-server.js';
import { startSwift, type SwiftServer } from '../support/swift-server.js';

/**
 * The single-tenant Swift store whose account reference logs in to Keystone (auth_version 3),
 * against a real Keystone and a Swift proxy with authtoken + keystoneauth: the account URL comes
 * from the token's catalog (object-store, `AUTH_$(project_id)s`), as in a real cloud.
 */
interface Cloud {
  readonly keystone: KeystoneServer;
  readonly swift: SwiftServer;
  readonly dir: string;
}
let started: Promise<Cloud> | null = null;
const cloud = (): Promise<Cloud> =>
  (started ??= (async () => {
    const keystone = await startKeystone('http://127.0.0.1:9');
    const swift = await startSwift({ keystoneUrl: keystone.url });
    await registerEndpoint(keystone, 'swift', 'object-store', `${swift.keystoneProxyUrl ?? ''}/v1/AUTH_$(project_id)s`);
    return { keystone, swift, dir: mkdtempSync(join(tmpdir(), 'glimpse-swift-ks-')) };
  })());
after(async () => {
  const c = await (started ?? Promise.resolve(undefined));
  if (c === undefined) return;
  await c.swift.stop();
  await c.keystone.stop();
  rmSync(c.dir, { recursive: true, force: true });
});

const DEFAULTS = Object.fromEntries(Object.entries(SWIFT_STORE_OPTIONS).map(([k, o]) => [k, o.default])) as SectionValues<typeof SWIFT_STORE_OPTIONS>;

/** A store whose reference is the service user glance in project service, written as in glance-swift.conf. */
async function keystoneStore(reference: string, options: Partial<SectionValues<typeof SWIFT_STORE_OPTIONS>> = {}): Promise<ImageStore> {
  const c = await cloud();
  const file = join(c.dir, `${randomUUID()}.conf`);
  writeFileSync(file, reference.replaceAll('{keystone}', c.keystone.root));
  const driver = storeDriver('swift');
  const values = { ...DEFAULTS, swift_store_config_file: file, swift_store_create_container_on_put: true, ...options };
  return driver.open(driver.settings('swift', values, { defaultDir: '/nonexistent', configDir: c.dir }));
}

// auth_address without /v3, as deployment tools write it; the domains by name.
const V3_REFERENCE = `[ref1]
auth_version = 3
auth_address = {keystone}
user = service:glance
key = secret
user_domain_name = Default
project_domain_name = Default
`;

describeImageStore('swift single-tenant (Keystone v3 reference, catalog endpoint)', async () => {
  const store = await keystoneStore(V3_REFERENCE, {
    swift_store_container: `k${randomUUID().slice(0, 8)}`,
    swift_store_large_object_size: 1,
    swift_store_large_object_chunk_size: 1,
  });
  return { store, cleanup: () => Promise.resolve() };
});

describe('swift single-tenant with Keystone', () => {
  it('keeps the images in the service project account, which the catalog names', async () => {
    const c = await cloud();
    const container = `k${randomUUID().slice(0, 8)}`;
    const store = await keystoneStore(V3_REFERENCE, { swift_store_container: container });
    const written = await store.write(
      randomUUID(),
      (async function* () {
        yield randomBytes(1000);
        await Promise.resolve();
      })(),
      { maxBytes: 1000 },
    );
    const { token, body } = await keystoneToken(c.keystone, 'glance', { project: 'service' });
    const listing = await fetch(`${c.swift.keystoneProxyUrl ?? ''}/v1/AUTH_${body.token.project?.id ?? ''}/${container}?format=json`, {
      headers: { 'x-auth-token': token },
    });
    assert.equal(listing.status, 200);
    // The manifest and its one segment (the size was not declared).
    const imageId = written.location.split('/').pop() ?? '';
    const names = ((await listing.json()) as { name: string }[]).map((o) => o.name);
    assert.equal(names.length, 2);
    assert.ok(names.includes(imageId) && names.every((n) => n.startsWith(imageId)));
    // Another project's user cannot read it.
    const demo = await keystoneToken(c.keystone, 'demo', { project: 'demo' });
    const denied = await fetch(`${c.swift.keystoneProxyUrl ?? ''}/v1/AUTH_${body.token.project?.id ?? ''}/${container}`, {
      headers: { 'x-auth-token': demo.token },
    });
    assert.equal(denied.status, 403);
    await store.delete(written.location);
  });

  it('refuses with the reason a reference whose password is wrong, or whose catalog has no such region', async () => {
    const wrong = await keystoneStore(V3_REFERENCE.replace('key = secret', 'key = wrong'));
    await assert.rejects(
      wrong.write(
        randomUUID(),
        (async function* () {
          yield randomBytes(10);
          await Promise.resolve();
        })(),
        { maxBytes: 10 },
      ),
      (e: unknown) => e instanceof StoreUnavailableError && /authentication of reference 'ref1' .* failed \(401\)/.test(e.message),
    );
    const nowhere = await keystoneStore(V3_REFERENCE, { swift_store_region: 'RegionNine' });
    await assert.rejects(
      nowhere.stat('swift+config://ref1/glance/00000000-0000-4000-8000-000000000000'),
      (e: unknown) => e instanceof StoreUnavailableError && /no object-store endpoint \(interface public, region RegionNine\)/.test(e.message),
    );
  });
});
