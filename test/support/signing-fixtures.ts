import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Keys, certificates and signatures for the signature tests, made with Debian's openssl CLI
 * (the tool a user signs images with), in a scratch directory.
 */
export const KEY_TYPES = ['RSA-PSS', 'DSA', 'ECC_SECT571K1', 'ECC_SECT409K1', 'ECC_SECT571R1', 'ECC_SECT409R1', 'ECC_SECP521R1', 'ECC_SECP384R1'] as const;
export type KeyTypeName = (typeof KEY_TYPES)[number];
export const HASH_METHODS = ['SHA-224', 'SHA-256', 'SHA-384', 'SHA-512'] as const;
export type HashMethod = (typeof HASH_METHODS)[number];

export interface SigningKey {
  readonly keyType: KeyTypeName;
  readonly keyFile: string;
  /** DER of a self-signed certificate valid now, key usage digitalSignature. */
  readonly certificateDer: Buffer;
}

export class SigningLab {
  readonly dir = mkdtempSync(join(tmpdir(), 'glimpse-signing-'));
  private counter = 0;

  private openssl(...args: string[]): void {
    execFileSync('/usr/bin/openssl', args, { cwd: this.dir, stdio: 'ignore' });
  }

  private next(prefix: string): string {
    this.counter += 1;
    return `${prefix}-${this.counter}`;
  }

  /** A private key of the kind `keyType` needs. */
  key(keyType: KeyTypeName): string {
    const file = `${this.next('key')}.pem`;
    if (keyType === 'RSA-PSS') {
      this.openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file);
    } else if (keyType === 'DSA') {
      const params = `${file}.params`;
      this.openssl('genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'pbits:2048', '-out', params);
      this.openssl('genpkey', '-paramfile', params, '-out', file);
    } else {
      this.openssl('ecparam', '-name', keyType.slice(4).toLowerCase(), '-genkey', '-noout', '-out', file);
    }
    return file;
  }

  /** A self-signed certificate for `keyFile` (DER), with the given key usage. */
  certificate(keyFile: string, keyUsage = 'digitalSignature'): Buffer {
    const pem = `${this.next('cert')}.pem`;
    this.openssl('req', '-x509', '-new', '-key', keyFile, '-subj', '/CN=glimpse-test', '-days', '2', '-sha256', '-addext', `keyUsage=${keyUsage}`, '-out', pem);
    return this.der(pem);
  }

  /** A certificate whose validity ended in 2020. */
  expiredCertificate(keyFile: string): Buffer {
    const work = this.next('ca');
    this.openssl('req', '-new', '-key', keyFile, '-subj', '/CN=expired', '-out', `${work}.csr`);
    writeFileSync(join(this.dir, `${work}.index`), '');
    writeFileSync(join(this.dir, `${work}.serial`), '01\n');
    writeFileSync(
      join(this.dir, `${work}.cnf`),
      `[ca]\ndefault_ca = d\n[d]\ndatabase = ${work}.index\nserial = ${work}.serial\nnew_certs_dir = .\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n`,
    );
    this.openssl(
      'ca',
      '-batch',
      '-config',
      `${work}.cnf`,
      '-selfsign',
      '-keyfile',
      keyFile,
      '-in',
      `${work}.csr`,
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-out',
      `${work}.pem`,
    );
    return this.der(`${work}.pem`);
  }

  /** A CA (key and PEM certificate) and a certificate it issued for `keyFile` (DER). */
  issuedBy(keyFile: string): { readonly caPem: string; readonly certificateDer: Buffer } {
    const ca = this.next('ca');
    this.openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${ca}.key`);
    this.openssl('req', '-x509', '-new', '-key', `${ca}.key`, '-subj', '/CN=glimpse-test-ca', '-days', '2', '-out', `${ca}.pem`);
    this.openssl('req', '-new', '-key', keyFile, '-subj', '/CN=signed-by-ca', '-out', `${ca}.csr`);
    this.openssl('x509', '-req', '-in', `${ca}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${ca}.leaf.pem`);
    return { caPem: readFileSync(join(this.dir, `${ca}.pem`), 'utf8'), certificateDer: this.der(`${ca}.leaf.pem`) };
  }

  /** The base64 signature of `data`, as `openssl dgst -sign` makes it (RSA: PSS, maximum salt). */
  sign(keyFile: string, keyType: KeyTypeName, hash: HashMethod, data: Buffer, pssSaltLength?: number): string {
    const dataFile = `${this.next('data')}.bin`;
    writeFileSync(join(this.dir, dataFile), data);
    const signature = `${dataFile}.sig`;
    const pss = keyType === 'RSA-PSS' ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_pss_saltlen:${pssSaltLength ?? 'max'}`] : [];
    this.openssl('dgst', `-${hash.replace('-', '').toLowerCase()}`, '-sign', keyFile, ...pss, '-out', signature, dataFile);
    return readFileSync(join(this.dir, signature)).toString('base64');
  }

  private der(pem: string): Buffer {
    const der = `${pem}.der`;
    this.openssl('x509', '-in', pem, '-outform', 'DER', '-out', der);
    return readFileSync(join(this.dir, der));
  }
}
