import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { freePort, startGlimpseProcess } from '../support/glimpse-process.js';
import { startKeystone } from '../support/keystone-server.js';
import { parseJsonOutput, runCli, type CliResult, type Credentials } from '../support/openstack-cli.js';

/**
 * The compatibility suite: Debian's real `openstack` and `glance` CLIs against a running
 * glimpse-api, as users of two projects and an admin — once with the embedded identity, once in
 * the keystone flavor against a real Keystone started by scripts/keystone-test-server.sh.
 */

type User = 'admin' | 'demo' | 'alt';

/** A running Glimpse plus how each test user logs in to it. */
interface Deployment {
  credentials(user: User): Credentials;
  /** A scratch directory for image files the CLIs upload and download. */
  readonly dir: string;
  stop(): Promise<void>;
}

const EMBEDDED_USERS: Record<User, { password: string; project: string; roles: string }> = {
  admin: { password: 'admin-pw', project: 'admin', roles: 'admin,member,reader' },
  demo: { password: 'demo-pw', project: 'demo', roles: 'member,reader' },
  alt: { password: 'alt-pw', project: 'alt_demo', roles: 'member,reader' },
};

async function embeddedDeployment(): Promise<Deployment> {
  const users = Object.entries(EMBEDDED_USERS).map(([name, u]) => `user_${name} = ${u.password} ${u.project} ${u.roles}`);
  const glimpse = await startGlimpseProcess(['[DEFAULT]', 'bind_port = {port}', 'data_dir = {dir}/data', '[embedded_identity]', ...users, ''].join('\n'));
  return {
    credentials: (user) => ({
      authUrl: `${glimpse.url}/identity/v3`,
      username: user,
      password: EMBEDDED_USERS[user].password,
      project: EMBEDDED_USERS[user].project,
    }),
    dir: glimpse.dir,
    stop: () => glimpse.stop(),
  };
}

/** Users provisioned by scripts/keystone-test-server.sh. */
const KEYSTONE_USERS: Record<User, { name: string; project: string }> = {
  admin: { name: 'admin', project: 'admin' },
  demo: { name: 'demo', project: 'demo' },
  alt: { name: 'alt_demo', project: 'alt_demo' },
};

async function keystoneDeployment(): Promise<Deployment> {
  const port = await freePort();
  const keystone = await startKeystone(`http://127.0.0.1:${port}`);
  try {
    const glimpse = await startGlimpseProcess(
      // auth_url without a version, as deployment tools write it: the v3 API is discovered.
      [
        '[DEFAULT]',
        'bind_port = {port}',
        'data_dir = {dir}/data',
        '[paste_deploy]',
        'flavor = keystone',
        '[keystone_authtoken]',
        `www_authenticate_uri = ${keystone.root}`,
        `auth_url = ${keystone.root}`,
        'username = glance',
        'password = secret',
        'project_name = service',
        '',
      ].join('\n'),
      port,
    );
    return {
      credentials: (user) => ({ authUrl: keystone.root, username: KEYSTONE_USERS[user].name, password: 'secret', project: KEYSTONE_USERS[user].project }),
      dir: glimpse.dir,
      stop: async () => {
        await glimpse.stop();
        await keystone.stop();
      },
    };
  } catch (error) {
    await keystone.stop();
    throw error;
  }
}

interface ImageJson {
  id: string;
  name: string;
  status: string;
  visibility: string;
  owner: string;
  protected: boolean;
  tags: string[];
  properties?: Record<string, unknown>;
}
interface ListedImage {
  ID: string;
  Name: string;
}

function cliFlow(title: string, deploy: () => Promise<Deployment>): void {
  describe(title, () => {
    let deployment: Deployment;
    const os = (user: User, ...args: string[]): Promise<CliResult> => runCli('openstack', deployment.credentials(user), args);
    const glance = (user: User, ...args: string[]): Promise<CliResult> => runCli('glance', deployment.credentials(user), args);
    async function ok(result: Promise<CliResult>): Promise<string> {
      const { code, stdout } = await result;
      assert.equal(code, 0, stdout);
      return stdout;
    }
    const json = async <T>(user: User, ...args: string[]): Promise<T> => parseJsonOutput<T>(await ok(os(user, ...args, '-f', 'json')));
    const listNames = async (user: User, ...args: string[]): Promise<string[]> =>
      (await json<ListedImage[]>(user, 'image', 'list', ...args)).map((i) => i.Name).sort();
    /** Uploads `size` random bytes with `glance image-upload`; returns the bytes. */
    async function upload(id: string, size: number): Promise<Buffer> {
      const bytes = randomBytes(size);
      const file = join(deployment.dir, `upload-${id}`);
      writeFileSync(file, bytes);
      await ok(glance('demo', 'image-upload', '--file', file, id));
      return bytes;
    }

    before(async () => {
      deployment = await deploy();
    });
    after(async () => {
      await deployment.stop();
    });

    const ids: Record<string, string> = {};

    it('creates images with properties and tags, and shows them', async () => {
      const a = await json<ImageJson>(
        'demo',
        'image',
        'create',
        '--disk-format',
        'raw',
        '--container-format',
        'bare',
        '--property',
        'os_distro=debian',
        '--property',
        'hw_disk_bus=scsi',
        '--tag',
        'gold',
        'cli-a',
      );
      assert.equal(a.status, 'queued');
      assert.equal(a.visibility, 'shared');
      assert.equal(a.properties?.['os_distro'], 'debian');
      assert.deepEqual(a.tags, ['gold']);
      ids['a'] = a.id;
      ids['b'] = (await json<ImageJson>('demo', 'image', 'create', '--disk-format', 'qcow2', '--container-format', 'bare', '--private', 'cli-b')).id;
      ids['c'] = (await json<ImageJson>('demo', 'image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--community', 'cli-c')).id;
      ids['d'] = (await json<ImageJson>('demo', 'image', 'create', '--disk-format', 'raw', '--container-format', 'bare', 'cli-d')).id;
      const shown = await json<ImageJson>('demo', 'image', 'show', 'cli-a');
      assert.equal(shown.id, a.id);
      assert.equal(shown.properties?.['hw_disk_bus'], 'scsi');
      assert.notEqual((await os('alt', 'image', 'show', ids['b'] ?? '')).code, 0, 'another project cannot see a private image');
    });

    it('lists with filters: visibility, owner, property, tag, size, sort and limit', async () => {
      const bytesA = await upload(ids['a'] ?? '', 1000);
      await upload(ids['d'] ?? '', 10);
      // The data round-trips through both CLIs, with Glance's checksum.
      const saved = join(deployment.dir, 'saved-a');
      await ok(os('demo', 'image', 'save', '--file', saved, 'cli-a'));
      assert.ok(readFileSync(saved).equals(bytesA));
      await ok(glance('demo', 'image-download', '--file', `${saved}-2`, ids['a'] ?? ''));
      assert.ok(readFileSync(`${saved}-2`).equals(bytesA));
      const shownA = await json<ImageJson & { checksum: string; size: number }>('demo', 'image', 'show', 'cli-a');
      assert.equal(shownA.checksum, createHash('md5').update(bytesA).digest('hex'));
      assert.equal(shownA.size, 1000);
      assert.equal(shownA.status, 'active');
      assert.deepEqual(await listNames('demo'), ['cli-a', 'cli-b', 'cli-c', 'cli-d']);
      assert.deepEqual(await listNames('alt'), [], 'others see no private, shared or community images by default');
      assert.deepEqual(await listNames('alt', '--community'), ['cli-c']);
      assert.deepEqual(await listNames('demo', '--private'), ['cli-b']);
      assert.deepEqual(await listNames('demo', '--shared'), ['cli-a', 'cli-d']);
      assert.deepEqual(await listNames('demo', '--property', 'os_distro=debian'), ['cli-a']);
      assert.deepEqual(await listNames('demo', '--tag', 'gold'), ['cli-a']);
      const demoProject = (await json<ImageJson>('demo', 'image', 'show', 'cli-a')).owner;
      // Without a visibility filter even admins skip other projects' community images (reference §2.4).
      assert.deepEqual(await listNames('admin', '--project', demoProject), ['cli-a', 'cli-b', 'cli-d']);
      assert.deepEqual(await listNames('admin', '--project', demoProject, '--community'), ['cli-c']);
      const sorted = (await json<ListedImage[]>('demo', 'image', 'list', '--sort', 'name:desc')).map((i) => i.Name);
      assert.deepEqual(sorted, ['cli-d', 'cli-c', 'cli-b', 'cli-a']);
      // openstack sorts on the client and asks the server only for `limit`: the newest image comes back.
      const limited = await json<ListedImage[]>('demo', 'image', 'list', '--sort', 'name:asc', '--limit', '1');
      assert.deepEqual(
        limited.map((i) => i.Name),
        ['cli-d'],
      );
      // glance sends the sort to the server.
      const firstByName = await ok(glance('demo', 'image-list', '--sort', 'name:asc', '--limit', '1'));
      assert.match(firstByName, /cli-a/);
      assert.doesNotMatch(firstByName, /cli-[bcd]/);
      const bySize = await ok(glance('demo', 'image-list', '--property-filter', 'size_min=100'));
      assert.match(bySize, /cli-a/);
      assert.doesNotMatch(bySize, /cli-d/);
      const small = await ok(glance('demo', 'image-list', '--property-filter', 'size_max=100', '--sort-key', 'name', '--sort-dir', 'asc'));
      assert.match(small, /cli-d/);
      assert.doesNotMatch(small, /cli-a/);
    });

    it('sets and unsets properties and tags', async () => {
      await ok(os('demo', 'image', 'set', '--property', 'foo=bar', '--tag', 'silver', 'cli-a'));
      let image = await json<ImageJson>('demo', 'image', 'show', 'cli-a');
      assert.equal(image.properties?.['foo'], 'bar');
      assert.deepEqual([...image.tags].sort(), ['gold', 'silver']);
      await ok(os('demo', 'image', 'unset', '--property', 'foo', '--tag', 'gold', 'cli-a'));
      image = await json<ImageJson>('demo', 'image', 'show', 'cli-a');
      assert.equal(image.properties?.['foo'], undefined);
      assert.deepEqual(image.tags, ['silver']);
      await ok(glance('demo', 'image-update', '--property', 'via=glance', ids['a'] ?? ''));
      await ok(glance('demo', 'image-tag-update', ids['a'] ?? '', 'bronze'));
      image = await json<ImageJson>('demo', 'image', 'show', 'cli-a');
      assert.equal(image.properties?.['via'], 'glance');
      assert.ok(image.tags.includes('bronze'));
      await ok(glance('demo', 'image-tag-delete', ids['a'] ?? '', 'bronze'));
      assert.ok(!(await json<ImageJson>('demo', 'image', 'show', 'cli-a')).tags.includes('bronze'));
    });

    it('changes visibility; only an admin may publicize', async () => {
      await ok(os('demo', 'image', 'set', '--community', 'cli-d'));
      assert.equal((await json<ImageJson>('demo', 'image', 'show', 'cli-d')).visibility, 'community');
      await ok(os('demo', 'image', 'set', '--private', 'cli-d'));
      assert.equal((await json<ImageJson>('demo', 'image', 'show', 'cli-d')).visibility, 'private');
      const refused = await os('demo', 'image', 'set', '--public', 'cli-d');
      assert.notEqual(refused.code, 0);
      assert.match(refused.stdout, /403|Forbidden|not authorized/i);
      await ok(os('admin', 'image', 'set', '--public', ids['d'] ?? ''));
      assert.equal((await json<ImageJson>('demo', 'image', 'show', 'cli-d')).visibility, 'public');
      assert.ok((await listNames('alt')).includes('cli-d'), "a public image is in everyone's list");
    });

    it('shares: a member sees the image in its list only after accepting', async () => {
      const altProject = (await json<{ project_id: string }>('alt', 'token', 'issue')).project_id;
      await ok(os('demo', 'image', 'add', 'project', 'cli-a', altProject));
      const members = await json<{ 'Member ID': string; Status: string }[]>('demo', 'image', 'member', 'list', 'cli-a');
      assert.equal(members.length, 1);
      assert.equal(members[0]?.Status, 'pending');
      assert.ok(!(await listNames('alt')).includes('cli-a'));
      assert.equal((await json<ImageJson>('alt', 'image', 'show', ids['a'] ?? '')).name, 'cli-a', 'a pending member can read it');
      await ok(os('alt', 'image', 'set', '--accept', ids['a'] ?? ''));
      assert.ok((await listNames('alt')).includes('cli-a'));
      await ok(os('alt', 'image', 'set', '--reject', ids['a'] ?? ''));
      assert.ok(!(await listNames('alt')).includes('cli-a'));
      assert.equal(members[0]['Member ID'], altProject);
      await ok(glance('alt', 'member-update', ids['a'] ?? '', altProject, 'accepted'));
      assert.ok((await listNames('alt')).includes('cli-a'));
      await ok(glance('demo', 'member-delete', ids['a'] ?? '', altProject));
      assert.notEqual((await os('alt', 'image', 'show', ids['a'] ?? '')).code, 0);
    });

    it('deactivates and reactivates', async () => {
      await ok(os('demo', 'image', 'set', '--deactivate', 'cli-a'));
      assert.equal((await json<ImageJson>('demo', 'image', 'show', 'cli-a')).status, 'deactivated');
      await ok(os('demo', 'image', 'set', '--activate', 'cli-a'));
      assert.equal((await json<ImageJson>('demo', 'image', 'show', 'cli-a')).status, 'active');
      await ok(glance('demo', 'image-deactivate', ids['a'] ?? ''));
      await ok(glance('demo', 'image-reactivate', ids['a'] ?? ''));
      assert.equal((await json<ImageJson>('demo', 'image', 'show', 'cli-a')).status, 'active');
    });

    it('refuses to delete a protected image, then deletes it', async () => {
      await ok(os('demo', 'image', 'set', '--protected', 'cli-b'));
      assert.notEqual((await os('demo', 'image', 'delete', 'cli-b')).code, 0);
      assert.equal((await json<ImageJson>('demo', 'image', 'show', 'cli-b')).protected, true);
      await ok(os('demo', 'image', 'set', '--unprotected', 'cli-b'));
      await ok(os('demo', 'image', 'delete', 'cli-b'));
      assert.notEqual((await os('demo', 'image', 'show', ids['b'] ?? '')).code, 0);
      await ok(glance('demo', 'image-delete', ids['c'] ?? ''));
      assert.deepEqual(await listNames('demo'), ['cli-a', 'cli-d']);
    });

    it('glance image-create and image-show work too', async () => {
      const created = await ok(
        glance('demo', 'image-create', '--name', 'g-1', '--disk-format', 'qcow2', '--container-format', 'bare', '--property', 'os_distro=alpine'),
      );
      assert.match(created, /\|\s*os_distro\s*\|\s*alpine\s*\|/);
      const listed = await ok(glance('demo', 'image-list', '--property-filter', 'os_distro=alpine'));
      assert.match(listed, /g-1/);
    });
  });
}

cliFlow('openstack and glance CLIs against glimpse (embedded identity)', embeddedDeployment);
cliFlow('openstack and glance CLIs against glimpse (keystone flavor, real Keystone)', keystoneDeployment);
