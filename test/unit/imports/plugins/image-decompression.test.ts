import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { constants, createGzip, deflateRawSync, gzipSync } from 'node:zlib';
import { detectCompression, imageDecompressionPlugin } from '../../../../src/imports/plugins/image-decompression.js';
import type { StagedImage } from '../../../../src/imports/plugins/import-plugin.js';
import { ImportPluginError, type ImportPluginErrorCode } from '../../../../src/imports/plugins/import-plugin-error.js';
import { filesIn, pluginContext, tempDir } from './plugin-fixtures.js';
import { buildZip } from './zip-fixtures.js';

/**
 * image_decompression (reference §9.7): gzip and one-file zip archives made by the real tools
 * (gzip, Info-ZIP's zip, including the zip64 archive zip writes for a stream) come out byte for
 * byte; what must be refused is refused with nothing left in the work directory.
 */

const MIB = 1024 * 1024;
const CAP = 10 * MIB;
const ZIP = '/usr/bin/zip';
const GZIP = '/usr/bin/gzip';
const NO_ZIP = existsSync(ZIP) ? false : 'needs /usr/bin/zip';

const temp = tempDir('decompression');
const fixtures = join(temp.dir, 'fixtures');
let workCount = 0;
let content: Buffer;

function workDir(): string {
  const dir = join(temp.dir, `work-${workCount++}`);
  mkdirSync(dir);
  return dir;
}

function fixture(name: string, data?: Buffer): StagedImage {
  const path = join(fixtures, name);
  if (data !== undefined) writeFileSync(path, data);
  return { path, diskFormat: 'qcow2', containerFormat: 'bare', size: statSync(path).size };
}

const plugin = imageDecompressionPlugin({ maxBytes: CAP });

async function refused(image: StagedImage, code: ImportPluginErrorCode, message: RegExp, maxBytes = CAP): Promise<void> {
  const dir = workDir();
  await assert.rejects(imageDecompressionPlugin({ maxBytes }).run(image, pluginContext(dir)), (error: unknown) => {
    assert.ok(error instanceof ImportPluginError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  });
  assert.deepEqual(filesIn(dir), [], 'a refused archive leaves no output file');
}

async function decompressed(image: StagedImage): Promise<StagedImage> {
  const dir = workDir();
  const outcome = await plugin.run(image, pluginContext(dir));
  assert.equal(outcome.staged.diskFormat, image.diskFormat);
  assert.equal(outcome.staged.containerFormat, image.containerFormat);
  assert.equal(outcome.virtualSize, null);
  assert.deepEqual(outcome.properties, {});
  assert.ok(outcome.staged.path.startsWith(dir));
  assert.equal(outcome.staged.size, statSync(outcome.staged.path).size);
  return outcome.staged;
}

describe('image_decompression', () => {
  before(() => {
    mkdirSync(fixtures);
    // Compressible but not trivial: random blocks repeated, 3 MiB.
    const block = randomBytes(64 * 1024);
    content = Buffer.concat([...Array.from({ length: 40 }, () => block), randomBytes(MIB / 2)]);
    writeFileSync(join(fixtures, 'disk.img'), content);
  });
  after(() => temp.cleanup());

  it('recognises the magic numbers Glance looks for', () => {
    assert.equal(detectCompression(Buffer.from('PK\x03\x04rest', 'latin1')), 'zip');
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 0x08, 0])), 'gzip');
    assert.equal(detectCompression(Buffer.from('xx-lh5-', 'latin1')), 'lha');
    assert.equal(detectCompression(Buffer.from('QFI\xfb', 'latin1')), 'none');
    assert.equal(detectCompression(Buffer.alloc(0)), 'none');
  });

  it('decompresses gzip byte-identical', async () => {
    const gz = existsSync(GZIP) ? execFileSync(GZIP, ['-c', join(fixtures, 'disk.img')], { maxBuffer: 64 * MIB }) : gzipSync(content);
    const out = await decompressed(fixture('disk.img.gz', gz));
    assert.ok(readFileSync(out.path).equals(content));
  });

  it('decompresses a one-file zip byte-identical: deflated, stored, zip64, streamed', { skip: NO_ZIP }, async () => {
    execFileSync(ZIP, ['-q', '-j', join(fixtures, 'deflated.zip'), join(fixtures, 'disk.img')]);
    execFileSync(ZIP, ['-q', '-j', '-0', join(fixtures, 'stored.zip'), join(fixtures, 'disk.img')]);
    // -fz: zip64 end records and sizes in the zip64 extra field, as for an image past 4 GiB.
    execFileSync(ZIP, ['-q', '-j', '-fz', join(fixtures, 'zip64.zip'), join(fixtures, 'disk.img')]);
    // Read from stdin, zip writes a data descriptor after the data and leaves the local sizes empty.
    execFileSync(ZIP, ['-q', join(fixtures, 'streamed.zip'), '-'], { input: content });
    for (const name of ['deflated.zip', 'stored.zip', 'zip64.zip', 'streamed.zip']) {
      const out = await decompressed(fixture(name));
      assert.ok(readFileSync(out.path).equals(content), name);
    }
  });

  it('decompresses an empty file from a zip', async () => {
    const out = await decompressed(fixture('empty.zip', buildZip([{ name: 'empty', data: Buffer.alloc(0), method: 0 }])));
    assert.equal(out.size, 0);
  });

  it('refuses a zip with two files', { skip: NO_ZIP }, async () => {
    writeFileSync(join(fixtures, 'second.txt'), 'another file');
    execFileSync(ZIP, ['-q', '-j', join(fixtures, 'two.zip'), join(fixtures, 'disk.img'), join(fixtures, 'second.txt')]);
    await refused(fixture('two.zip'), 'INVALID_ARCHIVE', /holds 2 files; only an archive of exactly one file/);
    const built = buildZip([
      { name: 'a', data: Buffer.from('a') },
      { name: 'b', data: Buffer.from('b') },
    ]);
    await refused(fixture('built-two.zip', built), 'INVALID_ARCHIVE', /holds 2 files/);
  });

  it('refuses a zip whose end record counts one file but whose directory holds two', async () => {
    const two = buildZip([
      { name: 'a', data: Buffer.from('a') },
      { name: 'b', data: Buffer.from('b') },
    ]);
    two.writeUInt16LE(1, two.length - 22 + 8);
    two.writeUInt16LE(1, two.length - 22 + 10);
    await refused(fixture('lying-count.zip', two), 'INVALID_ARCHIVE', /does not hold exactly the one file/);
  });

  it('refuses a gzip decompression bomb (200 MiB of zeros, cap 10 MiB) and leaves no output', async () => {
    const bomb = join(fixtures, 'bomb.gz');
    const zeros = Buffer.alloc(MIB);
    await pipeline(
      Readable.from(
        (function* () {
          for (let i = 0; i < 200; i++) yield zeros;
        })(),
      ),
      createGzip({ level: constants.Z_BEST_SPEED }),
      createWriteStream(bomb),
    );
    assert.ok(statSync(bomb).size < MIB);
    await refused(fixture('bomb.gz'), 'SIZE_LIMIT', /expands past 10485760 bytes.*decompression bomb/);
  });

  it('refuses a zip bomb, whether its directory tells the size or lies about it', async () => {
    const zeros = Buffer.alloc(20 * MIB);
    const deflated = deflateRawSync(zeros);
    await refused(fixture('honest-bomb.zip', buildZip([{ name: 'disk', data: zeros, deflated }])), 'SIZE_LIMIT', /20971520 bytes.*decompression bomb/);
    await refused(
      fixture('lying-bomb.zip', buildZip([{ name: 'disk', data: zeros, deflated, claimedSize: 1000 }])),
      'SIZE_LIMIT',
      /expands past 10485760 bytes.*decompression bomb/,
    );
  });

  it('refuses a zip whose file fails its size or CRC check', async () => {
    const data = Buffer.from('the real content of the disk');
    await refused(fixture('bad-size.zip', buildZip([{ name: 'disk', data, claimedSize: 5 }])), 'INVALID_ARCHIVE', /decompressed to 28 bytes, not the 5/);
    await refused(fixture('bad-crc.zip', buildZip([{ name: 'disk', data, claimedCrc: 1234 }])), 'INVALID_ARCHIVE', /CRC-32/);
  });

  it('refuses truncated or corrupt archives', async () => {
    const gz = gzipSync(content);
    await refused(fixture('truncated.gz', gz.subarray(0, gz.length / 2)), 'INVALID_ARCHIVE', /gzip data is corrupt or truncated/);
    const zip = buildZip([{ name: 'disk', data: content }]);
    await refused(fixture('truncated.zip', zip.subarray(0, zip.length - 30)), 'INVALID_ARCHIVE', /no end of central directory record/);
    await refused(fixture('bzip2.zip', buildZip([{ name: 'disk', data: content, method: 12 as 8 }])), 'UNSUPPORTED_FORMAT', /compression method 12/);
  });

  it('refuses LHA archives as not supported', async () => {
    await refused(fixture('disk.lzh', Buffer.concat([Buffer.from('\x00\x00-lh5-', 'latin1'), randomBytes(100)])), 'UNSUPPORTED_FORMAT', /LHA.*not supported/);
  });

  it('leaves uncompressed data, and compressed containers, as they are', async () => {
    const dir = workDir();
    const raw = fixture('disk.img');
    assert.deepEqual((await plugin.run(raw, pluginContext(dir))).staged, raw);
    const gz = { ...fixture('kept.gz', gzipSync(content)), containerFormat: 'compressed' };
    assert.deepEqual((await plugin.run(gz, pluginContext(dir))).staged, gz);
    assert.deepEqual(filesIn(dir), []);
  });

  it('stops when the signal aborts, leaving no output', async () => {
    const controller = new AbortController();
    controller.abort();
    const dir = workDir();
    await assert.rejects(plugin.run(fixture('abort.gz', gzipSync(content)), pluginContext(dir, { signal: controller.signal })), (error: unknown) => {
      assert.ok(error instanceof ImportPluginError);
      assert.equal(error.code, 'ABORTED');
      return true;
    });
    assert.deepEqual(filesIn(dir), []);
  });
});
