import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { HASH_METHODS, KEY_TYPES, SigningLab, type KeyTypeName } from '../support/signing-fixtures.js';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer } from '../support/test-server.js';

/**
 * Image signature verification through the API (reference §7), with certificates in the
 * embedded key manager and signatures made by openssl.
 */
const OCTET = { 'content-type': 'application/octet-stream' };
const lab = new SigningLab();
const keys = new Map<KeyTypeName, { keyFile: string; certificate: Buffer }>();

before(() => {
  for (const keyType of KEY_TYPES) {
    const keyFile = lab.key(keyType);
    keys.set(keyType, { keyFile, certificate: lab.certificate(keyFile) });
  }
});

function key(keyType: KeyTypeName): { keyFile: string; certificate: Buffer } {
  const found = keys.get(keyType);
  if (found === undefined) throw new Error(`no key ${keyType}`);
  return found;
}

async function storeCertificate(server: TestServer, der: Buffer): Promise<string> {
  const reply = await server.request('demo', 'POST', '/key-manager/v1/secrets', {
    body: {
      name: 'signing',
      secret_type: 'certificate',
      payload: der.toString('base64'),
      payload_content_type: 'application/octet-stream',
      payload_content_encoding: 'base64',
    },
  });
  assert.equal(reply.status, 201, reply.text);
  return String(reply.json()['secret_ref']).split('/').pop() ?? '';
}

async function signedImage(server: TestServer, properties: Record<string, string>): Promise<string> {
  const reply = await server.request('demo', 'POST', '/v2/images', { body: { name: 'signed', disk_format: 'raw', container_format: 'bare', ...properties } });
  assert.equal(reply.status, 201, reply.text);
  return String(reply.json()['id']);
}

async function upload(server: TestServer, id: string, data: Buffer): Promise<{ status: number; text: string }> {
  const reply = await server.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: OCTET });
  return { status: reply.status, text: reply.text };
}

function storeFiles(server: TestServer): string[] {
  return readdirSync(join(server.dataDir, 'images'));
}

for (const dialect of testDialects()) {
  describe(`image signature verification on ${dialect}`, () => {
    const server = useTestServer(dialect);

    for (const keyType of KEY_TYPES) {
      it(`${keyType}: every hash method verifies; a flipped byte is refused with nothing stored`, async () => {
        const s = server.current;
        const { keyFile, certificate } = key(keyType);
        const certificateId = await storeCertificate(s, certificate);
        const data = randomBytes(100_000);
        for (const hash of HASH_METHODS) {
          const properties = {
            img_signature: lab.sign(keyFile, keyType, hash, data),
            img_signature_hash_method: hash,
            img_signature_key_type: keyType,
            img_signature_certificate_uuid: certificateId,
          };
          const good = await signedImage(s, properties);
          const ok = await upload(s, good, data);
          assert.equal(ok.status, 204, `${keyType} ${hash}: ${ok.text}`);
          assert.equal((await s.request('demo', 'GET', `/v2/images/${good}`)).json()['status'], 'active');

          const bad = await signedImage(s, properties);
          const before = storeFiles(s).length;
          const flipped = Buffer.from(data);
          flipped[5000] = (flipped[5000] ?? 0) ^ 1;
          const refused = await upload(s, bad, flipped);
          assert.equal(refused.status, 400, `${keyType} ${hash}`);
          assert.match(refused.text, new RegExp(`Signature verification failed for image ${bad}: Signature verification failed`));
          assert.equal(storeFiles(s).length, before, 'no byte of refused data stays in the store');
          const image = (await s.request('demo', 'GET', `/v2/images/${bad}`)).json();
          assert.equal(image['status'], 'queued');
          assert.match(String(image['os_glimpse_upload_failure']), /Signature verification failed/);
        }
      });
    }

    it('RSA-PSS honours pss_salt_length and mask_gen_algorithm', async () => {
      const s = server.current;
      const { keyFile, certificate } = key('RSA-PSS');
      const certificateId = await storeCertificate(s, certificate);
      const data = randomBytes(5000);
      const base = {
        img_signature_hash_method: 'SHA-256',
        img_signature_key_type: 'RSA-PSS',
        img_signature_certificate_uuid: certificateId,
        mask_gen_algorithm: 'MGF1',
      };
      const withSalt = await signedImage(s, { ...base, img_signature: lab.sign(keyFile, 'RSA-PSS', 'SHA-256', data, 20), pss_salt_length: '20' });
      assert.equal((await upload(s, withSalt, data)).status, 204);
      const wrongSalt = await signedImage(s, { ...base, img_signature: lab.sign(keyFile, 'RSA-PSS', 'SHA-256', data, 20), pss_salt_length: '32' });
      assert.equal((await upload(s, wrongSalt, data)).status, 400);
      const badMgf = await s.request('demo', 'POST', '/v2/images', { body: { ...base, img_signature: 'AAAA', mask_gen_algorithm: 'MGF2' } });
      assert.equal(badMgf.status, 400);
    });

    it('refuses a wrong certificate, an expired one, a wrong key type and a certificate without digitalSignature', async () => {
      const s = server.current;
      const data = randomBytes(3000);
      const { keyFile } = key('ECC_SECP384R1');
      const signature = lab.sign(keyFile, 'ECC_SECP384R1', 'SHA-384', data);
      const cases: [string, Buffer, string, RegExp][] = [
        ['wrong certificate', key('ECC_SECP521R1').certificate, 'ECC_SECP384R1', /Invalid public key type for signature key type: ECC_SECP384R1/],
        ['other key, same curve', lab.certificate(lab.key('ECC_SECP384R1')), 'ECC_SECP384R1', /: Signature verification failed/],
        ['expired', lab.expiredCertificate(keyFile), 'ECC_SECP384R1', /expired on Jan {2}2 00:00:00 2020 GMT/],
        ['wrong key type', key('RSA-PSS').certificate, 'ECC_SECP384R1', /Invalid public key type/],
        ['declared RSA for an EC key', lab.certificate(keyFile), 'RSA-PSS', /Invalid public key type for signature key type: RSA-PSS/],
        ['no digitalSignature usage', lab.certificate(keyFile, 'keyEncipherment'), 'ECC_SECP384R1', /key usage does not allow digital signatures/],
      ];
      for (const [what, certificate, keyType, message] of cases) {
        const certificateId = await storeCertificate(s, certificate);
        const id = await signedImage(s, {
          img_signature: signature,
          img_signature_hash_method: 'SHA-384',
          img_signature_key_type: keyType,
          img_signature_certificate_uuid: certificateId,
        });
        const before = storeFiles(s).length;
        const reply = await upload(s, id, data);
        assert.equal(reply.status, 400, what);
        assert.match(reply.text, message, what);
        assert.equal(storeFiles(s).length, before, what);
        assert.equal((await s.request('demo', 'GET', `/v2/images/${id}`)).json()['status'], 'queued', what);
      }
    });

    it('refuses a missing, foreign or non-certificate secret', async () => {
      const s = server.current;
      const data = randomBytes(100);
      const { keyFile, certificate } = key('ECC_SECP384R1');
      const signature = lab.sign(keyFile, 'ECC_SECP384R1', 'SHA-256', data);
      const base = { img_signature: signature, img_signature_hash_method: 'SHA-256', img_signature_key_type: 'ECC_SECP384R1' };
      const missing = await signedImage(s, { ...base, img_signature_certificate_uuid: '00000000-0000-4000-8000-000000000000' });
      const missingReply = await upload(s, missing, data);
      assert.equal(missingReply.status, 400);
      assert.match(missingReply.text, /Certificate not found with ID: 00000000-0000-4000-8000-000000000000/);
      // Another project's certificate is not the caller's to use (castellan reads with the caller's token).
      const alts = await s.request('alt', 'POST', '/key-manager/v1/secrets', {
        body: {
          secret_type: 'certificate',
          payload: certificate.toString('base64'),
          payload_content_type: 'application/octet-stream',
          payload_content_encoding: 'base64',
        },
      });
      const foreign = await signedImage(s, { ...base, img_signature_certificate_uuid: String(alts.json()['secret_ref']).split('/').pop() ?? '' });
      assert.match((await upload(s, foreign, data)).text, /Certificate not found/);
      const opaque = await s.request('demo', 'POST', '/key-manager/v1/secrets', { body: { payload: 'not a cert', payload_content_type: 'text/plain' } });
      const notCert = await signedImage(s, { ...base, img_signature_certificate_uuid: String(opaque.json()['secret_ref']).split('/').pop() ?? '' });
      assert.match((await upload(s, notCert, data)).text, /Invalid certificate format/);
    });

    it('refuses incomplete or invalid signature properties at create and update (400)', async () => {
      const s = server.current;
      const partial = await s.request('demo', 'POST', '/v2/images', { body: { name: 'p', img_signature: 'AAAA', img_signature_hash_method: 'SHA-256' } });
      assert.equal(partial.status, 400);
      assert.match(partial.text, /Missing property: img_signature_key_type/);
      for (const [key, value, message] of [
        ['img_signature_hash_method', 'MD5', /Invalid signature hash method: MD5/],
        ['img_signature_key_type', 'RSA', /Invalid signature key type: RSA/],
        ['img_signature', '***', /not properly encoded using base64/],
      ] as const) {
        const body = {
          img_signature: 'AAAA',
          img_signature_hash_method: 'SHA-256',
          img_signature_key_type: 'DSA',
          img_signature_certificate_uuid: 'x',
          [key]: value,
        };
        const reply = await s.request('demo', 'POST', '/v2/images', { body });
        assert.equal(reply.status, 400, key);
        assert.match(reply.text, message);
      }
      const id = await signedImage(s, {});
      const patch = await s.request('demo', 'PATCH', `/v2/images/${id}`, {
        rawBody: JSON.stringify([{ op: 'add', path: '/img_signature', value: 'AAAA' }]),
        headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      });
      assert.equal(patch.status, 400);
      assert.match(patch.text, /Missing property: img_signature_hash_method/);
      assert.equal((await s.request('demo', 'GET', `/v2/images/${id}`)).json()['img_signature'], undefined, 'nothing was saved');
    });
  });
}

describe('trusted_ca_file', () => {
  const chained: { ca: string; certificate: Buffer; keyFile: string } = { ca: '', certificate: Buffer.alloc(0), keyFile: '' };
  before(() => {
    chained.keyFile = lab.key('ECC_SECP384R1');
    const issued = lab.issuedBy(chained.keyFile);
    chained.ca = issued.caPem;
    chained.certificate = issued.certificateDer;
  });
  const server = useTestServer('sqlite', {});

  it('accepts only certificates issued by a trusted CA when anchors are configured', async () => {
    // The anchors are built here (the server under test reads them from its settings object).
    const { X509Certificate } = await import('node:crypto');
    const { startTestServer } = await import('../support/test-server.js');
    const trusting = await startTestServer('sqlite', { signatures: { partial: 'refuse', trustedCas: [new X509Certificate(chained.ca)] } });
    try {
      const data = randomBytes(2000);
      const signature = lab.sign(chained.keyFile, 'ECC_SECP384R1', 'SHA-256', data);
      const properties = (certificateId: string): Record<string, string> => ({
        img_signature: signature,
        img_signature_hash_method: 'SHA-256',
        img_signature_key_type: 'ECC_SECP384R1',
        img_signature_certificate_uuid: certificateId,
      });
      const good = await signedImage(trusting, properties(await storeCertificate(trusting, chained.certificate)));
      assert.equal((await upload(trusting, good, data)).status, 204);
      const selfSigned = lab.certificate(chained.keyFile);
      const untrusted = await signedImage(trusting, properties(await storeCertificate(trusting, selfSigned)));
      const reply = await upload(trusting, untrusted, data);
      assert.equal(reply.status, 400);
      assert.match(reply.text, /not issued by a trusted certificate authority/);
      // Without anchors (the default, as Glance) the self-signed certificate is fine.
      const plain = server.current;
      const open = await signedImage(plain, properties(await storeCertificate(plain, selfSigned)));
      assert.equal((await upload(plain, open, data)).status, 204);
    } finally {
      await trusting.close();
    }
  });
});
