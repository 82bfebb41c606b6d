import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';
import { keystoneToken, startKeystone, type KeystoneServer } from '../support/keystone-server.js';

/**
 * glance-download between two regions of one cloud (reference §9.3 step 4, §9.4 step 2): real
 * Keystone with an image service in RegionOne (glimpse-api A) and one in RegionTwo (B). A user
 * of RegionOne imports an image of RegionTwo: A finds B in the user's catalog, reads
 * the remote image with the user's token, copies its formats and the properties
 * `extra_properties` names, and stores the data byte-identical.
 */
const bytes = randomBytes(3 * 1024 * 1024 + 9);

function config(keystone: KeystoneServer, remotePort: number): string {
  return [
    '[DEFAULT]',
    'bind_port = {port}',
    'data_dir = {dir}/data',
    'enabled_import_methods = glance-direct, web-download, copy-image, glance-download',
    '[paste_deploy]',
    'flavor = keystone',
    '[keystone_authtoken]',
    `www_authenticate_uri = ${keystone.root}`,
    `auth_url = ${keystone.root}`,
    'username = glance',
    'password = secret',
    'project_name = service',
    // The other region's image service is on loopback here; an operator allows it by name.
    '[import_filtering_opts]',
    'allowed_hosts = 127.0.0.1',
    `allowed_ports = ${remotePort}`,
    '',
  ].join('\n');
}

describe('glance-download between two regions', () => {
  let keystone: KeystoneServer;
  let one: GlimpseProcess;
  let two: GlimpseProcess;
  before(async () => {
    const [portOne, portTwo] = [await freePort(), await freePort()];
    keystone = await startKeystone(`http://127.0.0.1:${portOne}`, { secondRegionImageUrl: `http://127.0.0.1:${portTwo}` });
    one = await startGlimpseProcess(config(keystone, portTwo), portOne);
    two = await startGlimpseProcess(config(keystone, portOne), portTwo);
  });
  after(async () => {
    await one.stop();
    await two.stop();
    await keystone.stop();
  });

  it('imports an image of RegionTwo into RegionOne', async () => {
    const { token } = await keystoneToken(keystone, 'demo', { project: 'demo' });
    const headers = { 'x-auth-token': token, 'content-type': 'application/json' };
    const created = await fetch(`${two.url}/v2/images`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'remote', disk_format: 'raw', container_format: 'bare', hw_disk_bus: 'scsi', os_distro: 'cirros', other: 'not copied' }),
    });
    assert.equal(created.status, 201);
    const remoteId = ((await created.json()) as { id: string }).id;
    const put = await fetch(`${two.url}/v2/images/${remoteId}/file`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(put.status, 204);

    // Debian's glanceclient cannot ask for it: `image-import` and `image-create-via-import` read
    // the region as getattr(args, "remote-region"), which argparse never sets (README "Import").
    // The request is what the client would send, to RegionOne's endpoint from the catalog.
    const local = (await (
      await fetch(`${one.url}/v2/images`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'downloaded', disk_format: 'raw', container_format: 'bare' }),
      })
    ).json()) as {
      id: string;
    };
    const id = local.id;
    const accepted = await fetch(`${one.url}/v2/images/${id}/import`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ method: { name: 'glance-download', glance_region: 'RegionTwo', glance_image_id: remoteId, glance_service_interface: 'public' } }),
    });
    assert.equal(accepted.status, 202, await accepted.text());
    let image: Record<string, unknown> = {};
    for (let waited = 0; waited < 30_000 && image['status'] !== 'active'; waited += 200) {
      image = (await (await fetch(`${one.url}/v2/images/${id}`, { headers })).json()) as Record<string, unknown>;
      if (image['status'] !== 'active') await sleep(200);
    }
    assert.equal(image['status'], 'active', JSON.stringify(image));
    assert.equal(image['checksum'], createHash('md5').update(bytes).digest('hex'));
    assert.equal(image['hw_disk_bus'], 'scsi');
    assert.equal(image['os_distro'], 'cirros');
    assert.equal(image['other'], undefined, 'only the extra_properties prefixes are copied');
    const data = Buffer.from(await (await fetch(`${one.url}/v2/images/${id}/file`, { headers })).arrayBuffer());
    assert.ok(data.equals(bytes));

    // A region the catalog does not have is refused at once.
    const other = (await (
      await fetch(`${one.url}/v2/images`, { method: 'POST', headers, body: JSON.stringify({ name: 'x', disk_format: 'raw', container_format: 'bare' }) })
    ).json()) as {
      id: string;
    };
    const nowhere = await fetch(`${one.url}/v2/images/${other.id}/import`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ method: { name: 'glance-download', glance_region: 'RegionNine', glance_image_id: remoteId } }),
    });
    assert.equal(nowhere.status, 400);
    assert.match(await nowhere.text(), /No image service in region 'RegionNine'/);
    const notUuid = await fetch(`${one.url}/v2/images/${other.id}/import`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ method: { name: 'glance-download', glance_region: 'RegionTwo', glance_image_id: 'abc' } }),
    });
    assert.equal(notUuid.status, 400);
    assert.match(await notUuid.text(), /Remote image id does not look like a UUID: abc/);
  });
});
