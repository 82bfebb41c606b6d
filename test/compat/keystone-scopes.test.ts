import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KeystoneAuthenticator } from '../../src/identity/keystone/keystone-authenticator.js';
import type { ServerSettings } from '../../src/server/server-settings.js';
import { keystoneSettingsFromIni, serviceUserLines } from '../support/keystone-config.js';
import { keystoneToken, startKeystone, type KeystoneServer } from '../support/keystone-server.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { freePort, startGlimpseProcess } from '../support/glimpse-process.js';
import { parseJsonOutput, runCli, type Credentials } from '../support/openstack-cli.js';

/**
 * Tokens of every scope against the policy modes, with a real Keystone served under /identity
 * as devstack serves it. System-, domain- and project-scoped tokens are all valid identities
 * (never 401); what each may do is Glance's policy answer (reference §16.2): with enforce_scope
 * every image rule is for project-scoped tokens, so the others get 403 on list and create and
 * 404 on a given image (Glance hides an image behind a failed get_image the same way).
 */

type Actor = 'systemAdmin' | 'systemReader' | 'domainMember' | 'projectMember';
type Operation = 'list' | 'create' | 'show' | 'showPublic' | 'update' | 'delete' | 'members' | 'addMember' | 'publicize';
type Row = Readonly<Record<Operation, string>>;

const MODES: Readonly<Record<string, Partial<ServerSettings>>> = {
  'legacy defaults': {},
  'legacy defaults, enforce_scope': { enforceScope: true },
  'secure RBAC, enforce_scope (the default since Glance 2024.1)': { enforceNewDefaults: true, enforceScope: true },
  'secure RBAC without enforce_scope': { enforceNewDefaults: true },
};

/** A project member of the image's project: the same answers in every mode. */
const PROJECT_MEMBER: Row = {
  list: '200 sees private',
  create: '201',
  show: '200',
  showPublic: '200',
  update: '200',
  delete: '204',
  members: '200',
  addMember: '200',
  publicize: '403',
};
const ADMIN_EVERYWHERE: Row = {
  list: '200 sees private',
  create: '201',
  show: '200',
  showPublic: '200',
  update: '200',
  delete: '204',
  members: '200',
  addMember: '200',
  publicize: '200',
};
/** Scope refused: 403 without an image, 404 for a given image (a failed get_image hides it). */
const SCOPE_REFUSED: Row = {
  list: '403',
  create: '403',
  show: '404',
  showPublic: '404',
  update: '404',
  delete: '404',
  members: '404',
  addMember: '404',
  publicize: '404',
};
/**
 * A token without a project and without admin: it sees what everyone sees. Glance lets it create
 * an image with no owner, visible to every user; Glimpse answers 403 (README "Keystone").
 */
const NO_PROJECT_LEGACY: Row = {
  list: '200',
  create: '403',
  show: '404',
  showPublic: '200',
  update: '404',
  delete: '404',
  members: '404',
  addMember: '404',
  publicize: '404',
};
/**
 * Secure RBAC rules compare the caller's project with the target's; with no project that never
 * matches here. Glance's oslo compares the text "None" with "None" and lets such a reader list
 * (public images only); Glimpse answers 403 rather than pass a check by accident.
 */
const NO_PROJECT_SRBAC: Row = { ...NO_PROJECT_LEGACY, list: '403' };

const EXPECTED: Readonly<Record<string, Readonly<Record<Actor, Row>>>> = {
  'legacy defaults': { systemAdmin: ADMIN_EVERYWHERE, systemReader: NO_PROJECT_LEGACY, domainMember: NO_PROJECT_LEGACY, projectMember: PROJECT_MEMBER },
  'legacy defaults, enforce_scope': { systemAdmin: SCOPE_REFUSED, systemReader: SCOPE_REFUSED, domainMember: SCOPE_REFUSED, projectMember: PROJECT_MEMBER },
  'secure RBAC, enforce_scope (the default since Glance 2024.1)': {
    systemAdmin: SCOPE_REFUSED,
    systemReader: SCOPE_REFUSED,
    domainMember: SCOPE_REFUSED,
    projectMember: PROJECT_MEMBER,
  },
  'secure RBAC without enforce_scope': {
    systemAdmin: ADMIN_EVERYWHERE,
    systemReader: NO_PROJECT_SRBAC,
    domainMember: NO_PROJECT_SRBAC,
    projectMember: PROJECT_MEMBER,
  },
};

const PATCH = { 'content-type': 'application/openstack-images-v2.1-json-patch' };

describe('tokens of every scope in every policy mode (real Keystone under /identity)', () => {
  let keystone: KeystoneServer;
  const tokens = {} as Record<Actor | 'projectAdmin', string>;
  let altProject = '';
  /** The port the glimpse-api processes below listen on: the catalog's image endpoint. */
  let glimpsePort = 0;
  before(async () => {
    glimpsePort = await freePort();
    keystone = await startKeystone(`http://127.0.0.1:${glimpsePort}`, { pathPrefix: '/identity' });
    tokens.systemAdmin = (await keystoneToken(keystone, 'admin', { system: true })).token;
    tokens.systemReader = (await keystoneToken(keystone, 'system_reader', { system: true })).token;
    tokens.domainMember = (await keystoneToken(keystone, 'domain_member', { domain: 'default' })).token;
    tokens.projectMember = (await keystoneToken(keystone, 'demo', { project: 'demo' })).token;
    tokens.projectAdmin = (await keystoneToken(keystone, 'admin', { project: 'admin' })).token;
    altProject = (await keystoneToken(keystone, 'alt_demo', { project: 'alt_demo' })).body.token.project?.id ?? '';
  });
  after(async () => {
    await keystone.stop();
  });

  for (const [mode, overrides] of Object.entries(MODES)) {
    describe(mode, () => {
      let server: TestServer;
      let privateImage = '';
      let publicImage = '';
      let sharedImage = '';
      const call = (actor: Actor | 'projectAdmin', method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
        server.request(null, method, path, { headers: { 'x-auth-token': tokens[actor], ...headers }, ...(body === undefined ? {} : { body }) });
      const create = async (actor: Actor | 'projectAdmin', visibility: string): Promise<string> => {
        const reply = await call(actor, 'POST', '/v2/images', { name: `${visibility}-image`, visibility, disk_format: 'raw', container_format: 'bare' });
        assert.equal(reply.status, 201, reply.text);
        return reply.json<{ id: string }>().id;
      };

      before(async () => {
        const auth = new KeystoneAuthenticator(keystoneSettingsFromIni(serviceUserLines(keystone.root)));
        server = await startTestServer('sqlite', overrides, { authenticator: auth });
        privateImage = await create('projectMember', 'private');
        sharedImage = await create('projectMember', 'shared');
        publicImage = await create('projectAdmin', 'public');
      });
      after(async () => {
        await server.close();
      });

      async function row(actor: Actor): Promise<Row> {
        const list = await call(actor, 'GET', '/v2/images');
        const sees = list.status === 200 && list.json<{ images: { id: string }[] }>().images.some((i) => i.id === privateImage);
        const status = async (reply: Promise<{ status: number }>): Promise<string> => String((await reply).status);
        return {
          list: `${list.status}${sees ? ' sees private' : ''}`,
          create: await status(call(actor, 'POST', '/v2/images', { name: `by-${actor}` })),
          show: await status(call(actor, 'GET', `/v2/images/${privateImage}`)),
          showPublic: await status(call(actor, 'GET', `/v2/images/${publicImage}`)),
          update: await status(call(actor, 'PATCH', `/v2/images/${privateImage}`, [{ op: 'add', path: '/x_touched_by', value: actor }], PATCH)),
          delete: await status(call(actor, 'DELETE', `/v2/images/${await create('projectMember', 'private')}`)),
          members: await status(call(actor, 'GET', `/v2/images/${sharedImage}/members`)),
          addMember: await status(call(actor, 'POST', `/v2/images/${await create('projectMember', 'shared')}/members`, { member: altProject })),
          publicize: await status(
            call(actor, 'PATCH', `/v2/images/${await create('projectMember', 'private')}`, [{ op: 'replace', path: '/visibility', value: 'public' }], PATCH),
          ),
        };
      }

      for (const actor of ['systemAdmin', 'systemReader', 'domainMember', 'projectMember'] as const) {
        it(`${actor}: ${JSON.stringify(EXPECTED[mode]?.[actor])}`, async () => {
          assert.deepEqual(await row(actor), EXPECTED[mode]?.[actor]);
        });
      }

      it('never answers 401 to a valid token of any scope, and 403 bodies say which rule refused', async () => {
        for (const actor of ['systemAdmin', 'systemReader', 'domainMember', 'projectMember'] as const) {
          const reply = await call(actor, 'GET', '/v2/images');
          assert.notEqual(reply.status, 401, actor);
          if (reply.status === 403) assert.match(reply.text, /not authorized to complete get_images action/);
        }
      });
    });
  }

  for (const [mode, policy, authUrl] of [
    ['legacy defaults', [], (k: KeystoneServer) => k.root],
    [
      'secure RBAC with enforce_scope',
      ['[DEFAULT]', 'enforce_secure_rbac = true', '[oslo_policy]', 'enforce_new_defaults = true', 'enforce_scope = true'],
      (k: KeystoneServer) => `${k.url}/`,
    ],
  ] as const) {
    it(`the openstack CLI with [keystone_authtoken] as devstack writes it, tokens of each scope, ${mode}`, async () => {
      const lines = [
        '[keystone_authtoken]',
        'memcached_servers = localhost:11211',
        'project_domain_name = Default',
        'project_name = service',
        'user_domain_name = Default',
        'password = secret',
        'username = glance',
        `auth_url = ${authUrl(keystone)}`,
        'interface = public',
        'auth_type = password',
        `www_authenticate_uri = ${keystone.root}`,
      ];
      const glimpse = await startGlimpseProcess(
        ['[DEFAULT]', 'bind_port = {port}', 'data_dir = {dir}/data', '[paste_deploy]', 'flavor = keystone', ...lines, ...policy, ''].join('\n'),
        glimpsePort,
      );
      try {
        const as = (username: string, scope?: Credentials['scope']): Credentials => ({
          authUrl: keystone.root,
          username,
          password: 'secret',
          project: username,
          ...(scope === undefined ? {} : { scope }),
        });
        const created = await runCli('openstack', as('demo'), [
          'image',
          'create',
          '--disk-format',
          'raw',
          '--container-format',
          'bare',
          'devstack-image',
          '-f',
          'json',
        ]);
        assert.equal(created.code, 0, `${created.stdout}\n${glimpse.output()}`);
        const listed = await runCli('openstack', as('demo'), ['image', 'list', '-f', 'json']);
        assert.deepEqual(
          parseJsonOutput<{ Name: string }[]>(listed.stdout).map((i) => i.Name),
          ['devstack-image'],
        );
        const system = await runCli('openstack', as('admin', { system: 'all' }), ['image', 'list', '-f', 'json']);
        const domain = await runCli('openstack', as('domain_member', { domainId: 'default' }), ['image', 'list', '-f', 'json']);
        if (policy.length === 0) {
          assert.equal(system.code, 0, system.stdout);
          assert.deepEqual(
            parseJsonOutput<{ Name: string }[]>(system.stdout).map((i) => i.Name),
            ['devstack-image'],
            'a system admin is an admin in legacy mode',
          );
          assert.equal(domain.code, 0, domain.stdout);
          assert.deepEqual(parseJsonOutput<{ Name: string }[]>(domain.stdout), [], "a domain token sees no project's private images");
        } else {
          for (const refused of [system, domain]) {
            assert.notEqual(refused.code, 0);
            assert.match(refused.stdout, /403|Forbidden/);
            assert.doesNotMatch(refused.stdout, /401|Unauthorized/);
          }
        }
        const unauthenticated = await fetch(`${glimpse.url}/v2/images`);
        assert.equal(unauthenticated.headers.get('www-authenticate'), `Keystone uri="${keystone.root}"`);
      } finally {
        await glimpse.stop();
      }
    });
  }

  it('a system-scoped admin creates ownerless images, as in Glance; others cannot', async () => {
    const auth = new KeystoneAuthenticator(keystoneSettingsFromIni(serviceUserLines(keystone.root)));
    const server = await startTestServer('sqlite', {}, { authenticator: auth });
    try {
      const created = await server.request(null, 'POST', '/v2/images', { headers: { 'x-auth-token': tokens.systemAdmin }, body: { name: 'system-image' } });
      assert.equal(created.status, 201);
      assert.equal(created.json()['owner'], null);
      const refused = await server.request(null, 'POST', '/v2/images', { headers: { 'x-auth-token': tokens.domainMember }, body: { name: 'domain-image' } });
      assert.equal(refused.status, 403);
      assert.match(refused.text, /needs a project-scoped token/);
      const owned = await server.request(null, 'POST', '/v2/images', {
        headers: { 'x-auth-token': tokens.systemAdmin },
        body: { name: 'for-alt', owner: altProject },
      });
      assert.equal(owned.json()['owner'], altProject, 'an admin may name the owner');
    } finally {
      await server.close();
    }
  });
});
