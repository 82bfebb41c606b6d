import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { ImageEvent } from '../../src/images/image-events.js';
import type { MetricLabels } from '../../src/ports/metrics.js';
import { testDialects } from '../support/test-databases.js';
import { useTestServer } from '../support/test-server.js';

/**
 * The event and metrics ports (src/ports): what the services report as a user works with an
 * image, in order, as a notifications or Prometheus adapter will receive it. The recording sink
 * is a test adapter of Glimpse's own port, not a stand-in for another service.
 */
const events: ImageEvent[] = [];
const counters = new Map<string, number>();
const observed: string[] = [];
const ports = {
  events: { emit: (event: ImageEvent) => void events.push(event) },
  metrics: {
    count: (name: string, labels: MetricLabels = {}, value = 1) => {
      const key = `${name}${JSON.stringify(labels)}`;
      counters.set(key, (counters.get(key) ?? 0) + value);
    },
    observe: (name: string) => void observed.push(name),
  },
};

/** The events of one type, once `count` of them arrived (a download is reported after its last byte left). */
async function eventsOf<T extends ImageEvent['type']>(type: T, count: number): Promise<Extract<ImageEvent, { type: T }>[]> {
  const matching = (): Extract<ImageEvent, { type: T }>[] => events.filter((e): e is Extract<ImageEvent, { type: T }> => e.type === type);
  for (let waited = 0; matching().length < count && waited < 10_000; waited += 20) await sleep(20);
  return matching();
}

for (const dialect of testDialects()) {
  describe(`service events and metrics on ${dialect}`, () => {
    const server = useTestServer(dialect, {}, { ports });

    it('reports each change of an image and its members, after it happened', async () => {
      events.length = 0;
      counters.clear();
      const s = server.current;
      const id = (await s.request('demo', 'POST', '/v2/images', { body: { name: 'evented', disk_format: 'raw', container_format: 'bare' } })).json<{
        id: string;
      }>().id;
      const upload = (body: Buffer, headers: Record<string, string> = {}) =>
        s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: body, headers: { 'content-type': 'application/octet-stream', ...headers } });
      assert.equal((await upload(Buffer.alloc(4096, 1))).status, 204);
      const patch = { 'content-type': 'application/openstack-images-v2.1-json-patch' };
      assert.equal(
        (await s.request('demo', 'PATCH', `/v2/images/${id}`, { body: [{ op: 'add', path: '/os_distro', value: 'debian' }], headers: patch })).status,
        200,
      );
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/tags/gold`)).status, 204);
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/tags/gold`)).status, 204, 'a tag it already has changes nothing');
      assert.equal((await s.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: await s.project('alt') } })).status, 200);
      assert.equal((await s.request('alt', 'PUT', `/v2/images/${id}/members/${await s.project('alt')}`, { body: { status: 'accepted' } })).status, 200);
      assert.equal((await s.request('demo', 'DELETE', `/v2/images/${id}/members/${await s.project('alt')}`)).status, 204);
      assert.equal((await s.request('demo', 'POST', `/v2/images/${id}/actions/deactivate`)).status, 204);
      assert.equal((await s.request('demo', 'DELETE', `/v2/images/${id}`)).status, 204);

      assert.deepEqual(
        events.map((e) => e.type),
        [
          'image.created',
          'image.uploading',
          'image.uploaded',
          'image.activated',
          'image.updated',
          'image.updated',
          'member.created',
          'member.updated',
          'member.deleted',
          'image.updated',
          'image.deleted',
        ],
      );
      const nth = (type: ImageEvent['type'], n = 0): ImageEvent | undefined => events.filter((e) => e.type === type)[n];
      const imageOf = (type: ImageEvent['type'], n = 0) => {
        const event = nth(type, n);
        return event !== undefined && 'image' in event ? event.image : undefined;
      };
      const uploaded = nth('image.uploaded');
      assert.equal(uploaded?.type === 'image.uploaded' ? uploaded.bytes : null, 4096);
      assert.equal(imageOf('image.activated')?.status, 'active');
      assert.equal(imageOf('image.updated', 0)?.properties['os_distro'], 'debian');
      assert.deepEqual(imageOf('image.updated', 1)?.tags, ['gold']);
      const accepted = nth('member.updated');
      assert.equal(accepted !== undefined && 'member' in accepted ? accepted.member.status : null, 'accepted');
      assert.equal(imageOf('image.updated', 2)?.status, 'deactivated');
      assert.equal(imageOf('image.deleted')?.id, id);
      assert.ok(events.every((e) => e.actor.requestId.startsWith('req-')));
      assert.equal(events[0]?.actor.projectId, await s.project('demo'));
      assert.equal(counters.get('glimpse_images_created_total{}'), 1);
      assert.equal(counters.get('glimpse_image_uploads_total{"result":"stored","store":"file"}'), 1);
      assert.equal(counters.get('glimpse_image_upload_bytes_total{"store":"file"}'), 4096);
      assert.equal(counters.get('glimpse_images_deleted_total{}'), 1);
      assert.ok(observed.includes('glimpse_image_upload_seconds'));
    });

    it('reports a failed upload with its reason, and nothing for refused requests', async () => {
      events.length = 0;
      counters.clear();
      const s = server.current;
      const id = (await s.request('demo', 'POST', '/v2/images', { body: { name: 'bad', disk_format: 'qcow2', container_format: 'bare' } })).json<{
        id: string;
      }>().id;
      const refused = await s.request('demo', 'PUT', `/v2/images/${id}/file`, {
        rawBody: Buffer.alloc(4096, 7),
        headers: { 'content-type': 'application/octet-stream' },
      });
      assert.equal(refused.status, 400, 'not a qcow2');
      assert.equal((await s.request('alt', 'DELETE', `/v2/images/${id}`)).status, 404);
      assert.equal(
        (
          await s.request('demo', 'PATCH', `/v2/images/${id}`, {
            body: [{ op: 'add', path: '/status', value: 'active' }],
            headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
          })
        ).status,
        403,
      );
      assert.deepEqual(
        events.map((e) => e.type),
        ['image.created', 'image.uploading', 'image.upload_failed'],
      );
      const failed = events[2];
      assert.ok(failed?.type === 'image.upload_failed' && /format inspection/.test(failed.reason), JSON.stringify(failed));
      assert.equal(counters.get('glimpse_image_uploads_total{"result":"bad_request","store":"file"}'), 1);
    });

    it('reports each download sent with the bytes the client took, also one cut short', async () => {
      events.length = 0;
      counters.clear();
      const s = server.current;
      const id = (await s.request('demo', 'POST', '/v2/images', { body: { name: 'sent', disk_format: 'raw', container_format: 'bare' } })).json<{
        id: string;
      }>().id;
      const size = 64 * 1024 * 1024;
      const uploaded = await s.request('demo', 'PUT', `/v2/images/${id}/file`, {
        rawBody: Buffer.alloc(size, 3),
        headers: { 'content-type': 'application/octet-stream' },
      });
      assert.equal(uploaded.status, 204);
      const whole = await s.request('demo', 'GET', `/v2/images/${id}/file`);
      assert.equal(whole.status, 200);
      const part = await s.request('demo', 'GET', `/v2/images/${id}/file`, { headers: { range: 'bytes=100-199' } });
      assert.equal(part.status, 206);
      // A client that reads the first bytes and hangs up.
      const token = await s.token('demo');
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': token } }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (error) => {
          if (!req.destroyed) reject(error);
        });
        req.end();
      });
      const sent = await eventsOf('image.sent', 3);
      assert.deepEqual(
        sent.slice(0, 2).map((e) => [e.image.id, e.bytes, e.expected, e.actor.projectId]),
        [
          [id, size, size, await s.project('demo')],
          [id, 100, 100, await s.project('demo')],
        ],
      );
      const cut = sent[2];
      assert.ok(cut !== undefined && cut.expected === size && cut.bytes < size, `cut short: ${cut?.bytes} of ${cut?.expected}`);
      const downloads = [...counters].filter(([key]) => key.startsWith('glimpse_image_downloads_total'));
      assert.equal(
        downloads.filter(([key]) => key.includes('"complete"')).reduce((n, [, v]) => n + v, 0),
        2,
        JSON.stringify(downloads),
      );
      assert.equal(
        downloads.filter(([key]) => key.includes('"cut_short"')).reduce((n, [, v]) => n + v, 0),
        1,
        JSON.stringify(downloads),
      );
    });
  });
}
