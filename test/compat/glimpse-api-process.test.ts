import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { login, startGlimpseProcess } from '../support/glimpse-process.js';

const run = promisify(execFile);

describe('the glimpse-api program', () => {
  it('runs `workers` processes that share the port and the tokens', async () => {
    const glimpse = await startGlimpseProcess(
      '[DEFAULT]\nbind_port = {port}\nworkers = 2\ndata_dir = {dir}/data\n[embedded_identity]\nuser_demo = pw demo member,reader\n',
    );
    try {
      const children = spawnSync('pgrep', ['-f', '--', `--config-file ${glimpse.configFile}`], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n');
      assert.equal(children.length, 3, 'one primary and two workers');
      const token = await login(glimpse.url, 'demo', 'pw', 'demo');
      const created = await fetch(`${glimpse.url}/v2/images`, { method: 'POST', headers: { 'x-auth-token': token }, body: '{"name": "w"}' });
      assert.equal(created.status, 201);
      // New connections are spread over the workers; every one must accept the token and see the image.
      for (let i = 0; i < 20; i += 1) {
        const list = await fetch(`${glimpse.url}/v2/images`, { headers: { 'x-auth-token': token, connection: 'close' } });
        assert.equal(list.status, 200);
        assert.equal(((await list.json()) as { images: unknown[] }).images.length, 1);
      }
    } finally {
      await glimpse.stop();
    }
  });

  it('creates an admin with a printed password on a first start without users', async () => {
    const glimpse = await startGlimpseProcess('[DEFAULT]\nbind_port = {port}\ndata_dir = {dir}/data\n');
    try {
      const password = /password: (\S+)/.exec(glimpse.output())?.[1] ?? '';
      assert.ok(password.length >= 20, glimpse.output());
      const token = await login(glimpse.url, 'admin', password, 'admin');
      assert.equal((await fetch(`${glimpse.url}/v2/images`, { headers: { 'x-auth-token': token } })).status, 200);
    } finally {
      await glimpse.stop();
    }
  });

  const refusal = async (config: string): Promise<{ code: number; stderr: string }> => {
    const dir = mkdtempSync(join(tmpdir(), 'glimpse-bad-'));
    const file = join(dir, 'bad.conf');
    writeFileSync(file, config);
    const failure = await run(process.execPath, [resolve('bin/glimpse-api.js'), '--config-file', file], { cwd: dir }).then(
      () => null,
      (error: unknown) => error as { code: number; stderr: string },
    );
    assert.ok(failure !== null, 'the program must fail');
    return failure;
  };

  it('refuses to start on a bad option value, naming it', async () => {
    const failure = await refusal('[DEFAULT]\nimage_tag_quota = lots\n');
    assert.equal(failure.code, 1);
    assert.match(failure.stderr, /\[DEFAULT\] image_tag_quota .*'lots' is not an integer/);
  });

  it('with workers, says what the startup child found wrong and exits 1 before any worker serves', async () => {
    // The primary only reads the configuration; the policy file is read by the child that prepares the node.
    const failure = await refusal('[DEFAULT]\nworkers = 2\nbind_port = 1\n[oslo_policy]\npolicy_file = missing-policy.yaml\n');
    assert.equal(failure.code, 1);
    assert.match(failure.stderr, /missing-policy\.yaml/);
    assert.doesNotMatch(failure.stderr, /worker \d+ exited/, 'no worker was started');
  });

  it('glimpse-manage syncs the database and hashes passwords', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glimpse-manage-'));
    const file = join(dir, 'g.conf');
    writeFileSync(file, `[database]\nconnection = sqlite:///${join(dir, 'm.sqlite')}\n`);
    const manage = resolve('bin/glimpse-manage.js');
    assert.match((await run(process.execPath, [manage, '--config-file', file, 'db', 'sync'])).stdout, /applied: 0001-initial/);
    assert.match((await run(process.execPath, [manage, '--config-file', file, 'db', 'sync'])).stdout, /up to date/);
    assert.match((await run(process.execPath, [manage, 'hash-password', 'pw'])).stdout, /^scrypt\$/);
    assert.match((await run(process.execPath, [manage, 'config', 'sample'])).stdout, /#bind_port = 9292/);
  });

  it('glimpse-manage data check / data recover report and remove orphans; scrub purges and restores', async () => {
    const glimpse = await startGlimpseProcess(
      '[DEFAULT]\nbind_port = {port}\ndata_dir = {dir}/data\ndelayed_delete = true\n[embedded_identity]\nuser_demo = pw demo member,reader\n',
    );
    const manage = (...args: string[]): Promise<{ code: number; stdout: string }> =>
      run(process.execPath, [resolve('bin/glimpse-manage.js'), '--config-file', glimpse.configFile, ...args], { cwd: glimpse.dir }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (error: unknown) => ({ code: (error as { code: number }).code, stdout: (error as { stdout: string }).stdout }),
      );
    try {
      const token = await login(glimpse.url, 'demo', 'pw', 'demo');
      const ids: string[] = [];
      for (let i = 0; i < 2; i += 1) {
        const created = (await (
          await fetch(`${glimpse.url}/v2/images`, {
            method: 'POST',
            headers: { 'x-auth-token': token },
            body: '{"name": "m", "disk_format": "raw", "container_format": "bare"}',
          })
        ).json()) as { id: string };
        const put = await fetch(`${glimpse.url}/v2/images/${created.id}/file`, {
          method: 'PUT',
          headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
          body: 'data',
        });
        assert.equal(put.status, 204);
        assert.equal((await fetch(`${glimpse.url}/v2/images/${created.id}`, { method: 'DELETE', headers: { 'x-auth-token': token } })).status, 204);
        ids.push(created.id);
      }
      const store = join(glimpse.dir, 'data', 'images');
      const stray = '0b5e2f6c-52c4-4d43-9d7e-4d43a3b8d1a1';
      writeFileSync(join(store, stray), 'nobody owns this');
      writeFileSync(join(store, `${stray}.tmp-00ff00ff00ff00ff`), 'unfinished');

      const check = await manage('data', 'check');
      assert.equal(check.code, 1, check.stdout);
      assert.match(check.stdout, /orphan .*file:\/\/.*0b5e2f6c-52c4-4d43-9d7e-4d43a3b8d1a1 \(no image refers to it/);
      assert.match(check.stdout, /\.tmp-00ff00ff00ff00ff \(unfinished write/);
      assert.match(check.stdout, /2 orphan object\(s\); 0 image location\(s\) without data/);
      const recover = await manage('data', 'recover');
      assert.equal(recover.code, 0, recover.stdout);
      assert.match(recover.stdout, /2 orphan object\(s\), 2 removed/);
      assert.equal((await manage('data', 'check')).code, 0);

      // delayed_delete kept both images' data; restore one, scrub the other.
      assert.deepEqual(readdirSync(store).sort(), [...ids].sort());
      assert.match((await manage('scrub', '--restore', ids[0] ?? '')).stdout, /restored/);
      const scrub = await manage('scrub');
      assert.equal(scrub.code, 0, scrub.stdout);
      assert.match(scrub.stdout, /scrubbed 1 image\(s\); 0 left pending_delete/);
      assert.deepEqual(readdirSync(store), [ids[0]]);
      const restored = await fetch(`${glimpse.url}/v2/images/${ids[0] ?? ''}/file`, { headers: { 'x-auth-token': token } });
      assert.equal(await restored.text(), 'data');
      const again = await manage('scrub', '--restore', ids[1] ?? '');
      assert.equal(again.code, 1);
    } finally {
      await glimpse.stop();
    }
  });
});
