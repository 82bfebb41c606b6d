import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer } from '../support/test-server.js';

for (const dialect of testDialects()) {
  describe(`service basics on ${dialect}`, () => {
    const server = useTestServer(dialect);

    it('serves the versions document: 300 on /, 200 on /versions', async () => {
      const root = await server.current.request(null, 'GET', '/');
      assert.equal(root.status, 300);
      const body = root.json<{ versions: { id: string; status: string; links: { rel: string; href: string }[] }[] }>();
      assert.equal(body.versions[0]?.id, 'v2.15');
      assert.equal(body.versions[0].status, 'CURRENT');
      assert.equal(body.versions[0].links[0]?.href, `${server.current.url}/v2/`);
      assert.ok(body.versions.some((v) => v.id === 'v2.0'));
      assert.equal((await server.current.request(null, 'GET', '/versions')).status, 200);
    });

    it('negotiates the version from the path or the Accept header', async () => {
      assert.equal((await server.current.request('demo', 'GET', '/v2.3/images')).status, 200);
      assert.equal((await server.current.request('demo', 'GET', '/v2.0/schemas/image')).status, 200);
      assert.equal((await server.current.request('demo', 'GET', '/images', { headers: { accept: 'application/vnd.openstack.images-v2' } })).status, 200);
      assert.equal((await server.current.request('demo', 'GET', '/v1/images')).status, 300);
      assert.equal((await server.current.request('demo', 'GET', '/v3/images')).status, 300);
      assert.equal((await server.current.request('demo', 'GET', '/v2.99/images')).status, 300);
    });

    it('answers /healthcheck without a token', async () => {
      const plain = await server.current.request(null, 'GET', '/healthcheck');
      assert.equal(plain.status, 200);
      assert.equal(plain.text, 'OK');
      const json = await server.current.request(null, 'GET', '/healthcheck', { headers: { accept: 'application/json' } });
      assert.deepEqual(json.json(), { detailed: false, reasons: ['OK'] });
      assert.equal((await server.current.request(null, 'HEAD', '/healthcheck')).status, 204);
    });

    it('requires a token, and tells where to get one', async () => {
      const reply = await server.current.request(null, 'GET', '/v2/images');
      assert.equal(reply.status, 401);
      assert.equal(reply.headers.get('www-authenticate'), `Keystone uri="${server.current.url}/identity/v3"`);
      const bad = await server.current.request(null, 'GET', '/v2/images', { headers: { 'x-auth-token': 'not-a-token' } });
      assert.equal(bad.status, 401);
    });

    it('tags every response with a request id, echoing a valid caller one', async () => {
      const generated = await server.current.request('demo', 'GET', '/v2/images');
      assert.match(generated.headers.get('x-openstack-request-id') ?? '', /^req-[0-9a-f-]{36}$/);
      const echoed = await server.current.request('demo', 'GET', '/v2/images', { headers: { 'x-openstack-request-id': 'abc-123' } });
      assert.equal(echoed.headers.get('x-openstack-request-id'), 'req-abc-123');
      const tooLong = await server.current.request('demo', 'GET', '/v2/images', { headers: { 'x-openstack-request-id': 'r'.repeat(65) } });
      assert.equal(tooLong.status, 431, 'Glance answers 500 here; 431 is what it meant');
      assert.ok((await server.current.request('demo', 'GET', '/v2/nowhere')).headers.get('x-openstack-request-id'));
    });

    it('renders errors in the three shapes chosen by Accept', async () => {
      const id = '00000000-0000-4000-8000-000000000000';
      const plain = await server.current.rawRequest('demo', 'GET', `/v2/images/${id}`, {});
      assert.equal(plain.status, 404);
      assert.match(plain.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(plain.text, `404 Not Found\n\nNo image found with ID ${id}\n\n   `);
      const json = await server.current.request('demo', 'GET', `/v2/images/${id}`, { headers: { accept: 'application/json' } });
      assert.equal(json.headers.get('content-type'), 'application/json');
      assert.deepEqual(json.json(), { message: `No image found with ID ${id}<br /><br />\n\n\n`, code: '404 Not Found', title: 'Not Found' });
      const html = await server.current.request('demo', 'GET', `/v2/images/${id}`, { headers: { accept: '*/*' } });
      assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(html.text, /<title>404 Not Found<\/title>/);
    });

    it('answers 405 with Allow for a known path and a wrong method, HEAD included', async () => {
      const put = await server.current.request('demo', 'PUT', '/v2/images');
      assert.equal(put.status, 405);
      assert.equal(put.headers.get('allow'), 'GET, POST');
      const head = await server.current.request('demo', 'HEAD', '/v2/images');
      assert.equal(head.status, 405);
      const member = await server.current.request('demo', 'POST', '/v2/images/x/members/y');
      assert.equal(member.headers.get('allow'), 'GET, PUT, DELETE');
      assert.equal((await server.current.request('demo', 'GET', '/v2/unknown')).status, 404);
    });

    it('refuses malformed bodies with 400 and unexpected bodies on GET', async () => {
      const malformed = await server.current.request('demo', 'POST', '/v2/images', { rawBody: '{"name": ', headers: { 'content-type': 'application/json' } });
      assert.equal(malformed.status, 400);
      assert.match(malformed.text, /Malformed JSON in request body/);
      const scalar = await server.current.request('demo', 'POST', '/v2/images', { rawBody: '42', headers: { 'content-type': 'application/json' } });
      assert.equal(scalar.status, 400);
      assert.match(scalar.text, /Unexpected body type/);
      const empty = await server.current.request('demo', 'POST', '/v2/images', { rawBody: '', headers: { 'content-type': 'application/json' } });
      assert.equal(empty.status, 400);
      const badUtf8 = await server.current.request('demo', 'POST', '/v2/images', {
        rawBody: Buffer.from([0x7b, 0xff, 0x7d]),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(badUtf8.status, 400);
      const withBody = await server.current.rawRequest('demo', 'GET', '/v2/images', { 'content-type': 'application/json' }, '{}');
      assert.equal(withBody.status, 400);
      assert.match(withBody.text, /A body is not expected with this request/);
      const huge = await server.current.request('demo', 'POST', '/v2/images', {
        rawBody: `{"name": "${'x'.repeat(2 * 1024 * 1024)}"}`,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(huge.status, 413);
      const nul = await server.current.request('demo', 'POST', '/v2/images', { body: { name: 'a\u0000b' } });
      assert.equal(nul.status, 400);
      const noContentType = await server.current.request('demo', 'POST', '/v2/images', { rawBody: '{"name": "no-ct"}' });
      assert.equal(noContentType.status, 201, 'Glance does not check Content-Type on create');
    });
  });
}
