import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startBarbican, type BarbicanServer } from '../support/barbican-server.js';
import { freePort, startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';
import { startKeystone, type KeystoneServer } from '../support/keystone-server.js';
import { parseJsonOutput, runCli, type Credentials } from '../support/openstack-cli.js';
import { HASH_METHODS, KEY_TYPES, SigningLab, type HashMethod, type KeyTypeName } from '../support/signing-fixtures.js';

/**
 * The signing workflow with the real CLIs (README "Key manager"): keys and certificates from
 * openssl, the certificate stored with `openstack secret store`, the image created with its
 * signature properties and uploaded by `openstack image create --file`. Once against the
 * embedded key manager for every key type and hash method, once against a real Barbican.
 */
const lab = new SigningLab();
const run = promisify(execFile);

interface Deployment {
  readonly credentials: Credentials;
  /** The file store directory, to check that refused data left nothing. */
  readonly storeDir: string;
  readonly dir: string;
}

async function storeCertificate(credentials: Credentials, certificate: Buffer): Promise<string> {
  const result = await runCli('openstack', credentials, [
    'secret',
    'store',
    '--name',
    'signing-cert',
    '--secret-type',
    'certificate',
    '--payload-content-type',
    'application/octet-stream',
    '--payload-content-encoding',
    'base64',
    '--payload',
    certificate.toString('base64'),
    '-f',
    'json',
  ]);
  assert.equal(result.code, 0, result.stdout);
  const href = parseJsonOutput<Record<string, string>>(result.stdout)['Secret href'] ?? '';
  return href.split('/').pop() ?? '';
}

/** `openstack image create --file` with the signature properties; the CLI's exit status and output. */
async function createSigned(deployment: Deployment, name: string, data: Buffer, properties: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const file = join(deployment.dir, `${name}.raw`);
  writeFileSync(file, data);
  const props = Object.entries(properties).flatMap(([k, v]) => ['--property', `${k}=${v}`]);
  const result = await runCli('openstack', deployment.credentials, [
    'image',
    'create',
    '--disk-format',
    'raw',
    '--container-format',
    'bare',
    ...props,
    '--file',
    file,
    name,
    '-f',
    'json',
  ]);
  return { ok: result.code === 0, output: result.stdout };
}

async function status(deployment: Deployment, name: string): Promise<string> {
  const result = await runCli('openstack', deployment.credentials, ['image', 'show', name, '-f', 'json']);
  assert.equal(result.code, 0, result.stdout);
  return parseJsonOutput<{ status: string }>(result.stdout).status;
}

function signatureProperties(signature: string, hash: HashMethod, keyType: KeyTypeName, certificateId: string): Record<string, string> {
  return { img_signature: signature, img_signature_hash_method: hash, img_signature_key_type: keyType, img_signature_certificate_uuid: certificateId };
}

/**
 * Refused uploads, through `glance image-create` + `image-upload` (openstack image create --file
 * deletes the image itself when its upload fails): the CLI reports the 400, the image stays
 * queued with the reason in os_glimpse_upload_failure, and no byte of it is in the store.
 */
async function expectRefused(deployment: Deployment, name: string, data: Buffer, properties: Record<string, string>, reason: RegExp): Promise<void> {
  const before = readdirSync(deployment.storeDir).length;
  const props = Object.entries(properties).flatMap(([k, v]) => ['--property', `${k}=${v}`]);
  const created = await runCli('glance', deployment.credentials, [
    'image-create',
    '--disk-format',
    'raw',
    '--container-format',
    'bare',
    '--name',
    name,
    ...props,
  ]);
  assert.equal(created.code, 0, created.stdout);
  const id = /\|\s*id\s*\|\s*([0-9a-f-]{36})\s*\|/.exec(created.stdout)?.[1] ?? '';
  const file = join(deployment.dir, `${name}.raw`);
  writeFileSync(file, data);
  const upload = await runCli('glance', deployment.credentials, ['image-upload', '--file', file, id]);
  assert.notEqual(upload.code, 0, `${name} must be refused`);
  assert.match(upload.stdout, /400|Signature verification failed/, name);
  const shown = await runCli('openstack', deployment.credentials, ['image', 'show', id, '-f', 'json']);
  const image = parseJsonOutput<{ status: string; properties?: Record<string, string> }>(shown.stdout);
  assert.equal(image.status, 'queued', name);
  assert.match(image.properties?.['os_glimpse_upload_failure'] ?? '', reason, name);
  assert.equal(readdirSync(deployment.storeDir).length, before, `${name} left bytes in the store`);
}

describe('image signing with the openstack CLI and the embedded key manager', () => {
  let glimpse: GlimpseProcess;
  let deployment: Deployment;
  before(async () => {
    glimpse = await startGlimpseProcess('[DEFAULT]\nbind_port = {port}\ndata_dir = {dir}/data\n[embedded_identity]\nuser_demo = pw demo member,reader\n');
    deployment = {
      credentials: { authUrl: `${glimpse.url}/identity/v3`, username: 'demo', password: 'pw', project: 'demo' },
      storeDir: join(glimpse.dir, 'data', 'images'),
      dir: glimpse.dir,
    };
  });
  after(async () => {
    await glimpse.stop();
  });

  for (const keyType of KEY_TYPES) {
    it(`${keyType}: each hash method gives an active image`, async () => {
      const keyFile = lab.key(keyType);
      const certificateId = await storeCertificate(deployment.credentials, lab.certificate(keyFile));
      const data = randomBytes(64 * 1024);
      for (const hash of HASH_METHODS) {
        const name = `signed-${keyType}-${hash}`;
        const result = await createSigned(deployment, name, data, signatureProperties(lab.sign(keyFile, keyType, hash, data), hash, keyType, certificateId));
        assert.ok(result.ok, result.output);
        assert.equal(await status(deployment, name), 'active', name);
      }
    });
  }

  it('glimpse-manage image verify re-checks a stored image, and catches bytes changed on disk', async () => {
    const keyFile = lab.key('ECC_SECP521R1');
    const certificateId = await storeCertificate(deployment.credentials, lab.certificate(keyFile));
    const data = randomBytes(16 * 1024);
    const created = await createSigned(
      deployment,
      'audited',
      data,
      signatureProperties(lab.sign(keyFile, 'ECC_SECP521R1', 'SHA-512', data), 'SHA-512', 'ECC_SECP521R1', certificateId),
    );
    assert.ok(created.ok, created.output);
    const id = parseJsonOutput<{ id: string }>(created.output).id;
    const verify = (): Promise<{ code: number; out: string }> =>
      run(process.execPath, [resolve('bin/glimpse-manage.js'), '--config-file', glimpse.configFile, 'image', 'verify', id], { cwd: glimpse.dir }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (error: unknown) => ({ code: (error as { code: number }).code, out: (error as { stderr: string }).stderr }),
      );
    const ok = await verify();
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, new RegExp(`image ${id}: signature verified over 16384 bytes in store file`));
    const stored = join(deployment.storeDir, id);
    const bytes = readFileSync(stored);
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    writeFileSync(stored, bytes);
    const tampered = await verify();
    assert.equal(tampered.code, 1);
    assert.match(tampered.out, new RegExp(`Signature verification failed for image ${id}: Signature verification failed`));
  });

  it('refuses a flipped byte, a wrong certificate, an expired certificate and a wrong key type', async () => {
    const keyFile = lab.key('ECC_SECP384R1');
    const data = randomBytes(32 * 1024);
    const signature = lab.sign(keyFile, 'ECC_SECP384R1', 'SHA-256', data);
    const good = await storeCertificate(deployment.credentials, lab.certificate(keyFile));
    const flipped = Buffer.from(data);
    flipped[100] = (flipped[100] ?? 0) ^ 0x10;
    await expectRefused(deployment, 'flipped', flipped, signatureProperties(signature, 'SHA-256', 'ECC_SECP384R1', good), /Signature verification failed$/);
    // openstack image create --file reports the refusal too (and then deletes the image itself).
    const viaOpenstack = await createSigned(deployment, 'flipped-osc', flipped, signatureProperties(signature, 'SHA-256', 'ECC_SECP384R1', good));
    assert.equal(viaOpenstack.ok, false);
    assert.match(viaOpenstack.output, /400/);
    const other = await storeCertificate(deployment.credentials, lab.certificate(lab.key('ECC_SECP384R1')));
    await expectRefused(deployment, 'wrong-cert', data, signatureProperties(signature, 'SHA-256', 'ECC_SECP384R1', other), /Signature verification failed$/);
    const expired = await storeCertificate(deployment.credentials, lab.expiredCertificate(keyFile));
    await expectRefused(deployment, 'expired-cert', data, signatureProperties(signature, 'SHA-256', 'ECC_SECP384R1', expired), /expired/);
    await expectRefused(
      deployment,
      'wrong-key-type',
      data,
      signatureProperties(signature, 'SHA-256', 'ECC_SECP521R1', good),
      /Invalid public key type for signature key type: ECC_SECP521R1/,
    );
  });
});

describe('image signing against a real Barbican (keystone flavor)', () => {
  let keystone: KeystoneServer;
  let barbican: BarbicanServer;
  let glimpse: GlimpseProcess;
  let deployment: Deployment;
  before(async () => {
    const port = await freePort();
    keystone = await startKeystone(`http://127.0.0.1:${port}`);
    barbican = await startBarbican(keystone.url);
    glimpse = await startGlimpseProcess(
      [
        '[DEFAULT]',
        'bind_port = {port}',
        'data_dir = {dir}/data',
        '[paste_deploy]',
        'flavor = keystone',
        '[keystone_authtoken]',
        `www_authenticate_uri = ${keystone.url}`,
        `auth_url = ${keystone.url}`,
        'username = glance',
        'password = secret',
        'project_name = service',
        '[key_manager]',
        'backend = barbican',
        '',
      ].join('\n'),
      port,
    );
    deployment = {
      credentials: { authUrl: keystone.url, username: 'demo', password: 'secret', project: 'demo' },
      storeDir: join(glimpse.dir, 'data', 'images'),
      dir: glimpse.dir,
    };
  });
  after(async () => {
    await glimpse.stop();
    await barbican.stop();
    await keystone.stop();
  });

  it('a correct signature gives an active image; a flipped byte is refused with nothing stored', async () => {
    const keyFile = lab.key('RSA-PSS');
    // castellan-style: the PEM file, base64-encoded, as an octet-stream certificate secret.
    const der = lab.certificate(keyFile);
    const pem = Buffer.from(`-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
    const certificateId = await storeCertificate(deployment.credentials, pem);
    const data = randomBytes(128 * 1024);
    const properties = signatureProperties(lab.sign(keyFile, 'RSA-PSS', 'SHA-256', data), 'SHA-256', 'RSA-PSS', certificateId);
    const good = await createSigned(deployment, 'barbican-signed', data, properties);
    assert.ok(good.ok, good.output);
    assert.equal(await status(deployment, 'barbican-signed'), 'active');
    const flipped = Buffer.from(data);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    await expectRefused(deployment, 'barbican-flipped', flipped, properties, /Signature verification failed$/);
  });
});
