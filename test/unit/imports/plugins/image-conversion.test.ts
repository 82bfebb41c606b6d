import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_VMDK_ALLOWED_TYPES } from '../../../../src/images/format-inspection/format-policy.js';
import { imageConversionPlugin, type ImageConversionOptions } from '../../../../src/imports/plugins/image-conversion.js';
import type { StagedImage } from '../../../../src/imports/plugins/import-plugin.js';
import { ImportPluginError, type ImportPluginErrorCode } from '../../../../src/imports/plugins/import-plugin-error.js';
import { checkQemuImageInfo, parseQemuImageInfo } from '../../../../src/imports/plugins/qemu-image-info.js';
import { DEFAULT_QEMU_IMG_SETTINGS, qemuImgInfo, type QemuImgSettings } from '../../../../src/imports/plugins/qemu-img.js';
import { runLimited } from '../../../../src/imports/plugins/limited-process.js';
import { filesIn, pluginContext, tempDir } from './plugin-fixtures.js';

/**
 * image_conversion against the real qemu-img (reference §9.7): fixtures are made with qemu-img
 * itself, results are checked with `qemu-img info` and by converting back and comparing bytes.
 * A wrapper in front of qemu-img records which subcommands ran, to show that unsafe images are
 * refused before qemu-img convert (or qemu-img at all) sees them.
 */

const QEMU_IMG = '/usr/bin/qemu-img';
const PRLIMIT = '/usr/bin/prlimit';
const SKIP = !existsSync(QEMU_IMG) || !existsSync(PRLIMIT) ? 'needs /usr/bin/qemu-img and /usr/bin/prlimit' : false;
const MIB = 1024 * 1024;
const VIRTUAL = 8 * MIB;

const temp = tempDir('conversion');
const fixtures = join(temp.dir, 'fixtures');
const calls = join(temp.dir, 'qemu-img-calls.log');
let workCount = 0;

/** qemu-img behind a script that logs its subcommand, so a test can tell what ran. */
function settings(overrides: Partial<QemuImgSettings> = {}): QemuImgSettings {
  return { ...DEFAULT_QEMU_IMG_SETTINGS, qemuImgPath: join(temp.dir, 'qemu-img'), ...overrides };
}

function options(overrides: Partial<ImageConversionOptions> = {}): ImageConversionOptions {
  return { outputFormat: 'raw', vmdkAllowedTypes: DEFAULT_VMDK_ALLOWED_TYPES, maxBytes: null, qemuImg: settings(), ...overrides };
}

function workDir(): string {
  const dir = join(temp.dir, `work-${workCount++}`);
  mkdirSync(dir);
  return dir;
}

function staged(file: string, diskFormat: string): StagedImage {
  const path = join(fixtures, file);
  return { path, diskFormat, containerFormat: 'bare', size: statSync(path).size };
}

function qemuImg(...args: string[]): string {
  return execFileSync(QEMU_IMG, args, { cwd: fixtures, encoding: 'utf8' });
}

function info(path: string): { format: string; 'virtual-size': number } {
  return JSON.parse(qemuImg('info', '--output=json', path)) as { format: string; 'virtual-size': number };
}

function calledSubcommands(): string[] {
  return existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean) : [];
}

function resetCalls(): void {
  writeFileSync(calls, '');
}

async function refused(promise: Promise<unknown>, code: ImportPluginErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ImportPluginError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    assert.equal(error.plugin, 'image_conversion');
    return true;
  });
}

describe('image_conversion', { skip: SKIP }, () => {
  let original: Buffer;

  before(() => {
    mkdirSync(fixtures);
    writeFileSync(join(temp.dir, 'qemu-img'), `#!/bin/sh\nprintf '%s\\n' "$1" >> '${calls}'\nexec ${QEMU_IMG} "$@"\n`);
    chmodSync(join(temp.dir, 'qemu-img'), 0o755);
    // A sparse disk with data at both ends and a hole between, so the conversions have real
    // content to keep; the first sector is text, so it cannot pass for any disk format's header.
    const fd = openSync(join(fixtures, 'disk.raw'), 'w');
    writeSync(fd, Buffer.concat([Buffer.from('glimpse test disk\n'), randomBytes(MIB)]), 0, MIB + 18, 0);
    writeSync(fd, randomBytes(MIB), 0, MIB, VIRTUAL - MIB);
    closeSync(fd);
    original = readFileSync(join(fixtures, 'disk.raw'));
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', 'disk.raw', 'disk.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', 'disk.qcow2', '-F', 'qcow2', 'overlay.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'data_file=external.raw', 'data-file.qcow2', '8M');
    qemuImg('create', '-f', 'qcow2', 'big.qcow2', '64M');
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', 'disk.raw', 'disk.vmdk');
  });
  after(() => temp.cleanup());

  it('converts qcow2 to raw: the formats, the size and every byte of the disk', async () => {
    resetCalls();
    const dir = workDir();
    const outcome = await imageConversionPlugin(options()).run(staged('disk.qcow2', 'qcow2'), pluginContext(dir));
    assert.equal(outcome.staged.diskFormat, 'raw');
    assert.equal(outcome.staged.containerFormat, 'bare');
    assert.equal(outcome.virtualSize, VIRTUAL);
    assert.equal(outcome.staged.size, statSync(outcome.staged.path).size);
    assert.equal(outcome.staged.path.startsWith(dir), true);
    assert.deepEqual(outcome.properties, {});
    const result = info(outcome.staged.path);
    assert.equal(result.format, 'raw');
    assert.equal(result['virtual-size'], VIRTUAL);
    assert.ok(readFileSync(outcome.staged.path).equals(original));
    assert.deepEqual(calledSubcommands(), ['info', 'convert']);
  });

  it('converts raw to qcow2, which converts back to the same bytes', async () => {
    const dir = workDir();
    const outcome = await imageConversionPlugin(options({ outputFormat: 'qcow2' })).run(staged('disk.raw', 'raw'), pluginContext(dir));
    assert.equal(outcome.staged.diskFormat, 'qcow2');
    assert.equal(outcome.staged.containerFormat, 'bare');
    assert.equal(outcome.virtualSize, VIRTUAL);
    assert.equal(outcome.staged.size, statSync(outcome.staged.path).size);
    const result = info(outcome.staged.path);
    assert.equal(result.format, 'qcow2');
    assert.equal(result['virtual-size'], VIRTUAL);
    const back = join(dir, 'back.raw');
    qemuImg('convert', '-f', 'qcow2', '-O', 'raw', outcome.staged.path, back);
    assert.ok(readFileSync(back).equals(original));
  });

  it('converts vmdk (monolithicSparse) to raw', async () => {
    const outcome = await imageConversionPlugin(options()).run(staged('disk.vmdk', 'vmdk'), pluginContext(workDir()));
    assert.equal(outcome.staged.diskFormat, 'raw');
    assert.ok(readFileSync(outcome.staged.path).equals(original));
  });

  it('leaves an image already in the output format as it is, recording its virtual size', async () => {
    resetCalls();
    const dir = workDir();
    const input = staged('disk.qcow2', 'qcow2');
    const outcome = await imageConversionPlugin(options({ outputFormat: 'qcow2' })).run(input, pluginContext(dir));
    assert.deepEqual(outcome.staged, input);
    assert.equal(outcome.virtualSize, VIRTUAL);
    assert.deepEqual(filesIn(dir), []);
    assert.deepEqual(calledSubcommands(), ['info']);
  });

  it('refuses a qcow2 with a backing file before qemu-img runs', async () => {
    resetCalls();
    const dir = workDir();
    await refused(
      imageConversionPlugin(options()).run(staged('overlay.qcow2', 'qcow2'), pluginContext(dir)),
      'UNSAFE_IMAGE',
      /backing file.*qcow2-backing-file/i,
    );
    assert.deepEqual(calledSubcommands(), []);
    assert.deepEqual(filesIn(dir), []);
  });

  it('refuses a qcow2 with an external data-file before qemu-img runs', async () => {
    resetCalls();
    await refused(imageConversionPlugin(options()).run(staged('data-file.qcow2', 'qcow2'), pluginContext(workDir())), 'UNSAFE_IMAGE', /qcow2-data-file/);
    assert.deepEqual(calledSubcommands(), []);
  });

  it('refuses content that is not the declared disk_format, either way round', async () => {
    resetCalls();
    await refused(
      imageConversionPlugin(options()).run(staged('disk.qcow2', 'raw'), pluginContext(workDir())),
      'FORMAT_MISMATCH',
      /disk_format is raw but its content is qcow2/,
    );
    await refused(
      imageConversionPlugin(options()).run(staged('disk.raw', 'qcow2'), pluginContext(workDir())),
      'FORMAT_MISMATCH',
      /disk_format is qcow2 but its content is raw/,
    );
    assert.deepEqual(calledSubcommands(), []);
  });

  it('refuses a VMDK whose create type is not allowed', async () => {
    await refused(
      imageConversionPlugin(options({ vmdkAllowedTypes: ['streamOptimized'] })).run(staged('disk.vmdk', 'vmdk'), pluginContext(workDir())),
      'UNSAFE_IMAGE',
      /monolithicSparse.*not allowed/,
    );
  });

  it('refuses to convert from a format qemu-img is not given (iso)', async () => {
    await refused(
      imageConversionPlugin(options()).run(staged('disk.raw', 'iso'), pluginContext(workDir())),
      'UNSUPPORTED_FORMAT',
      /Unable to convert from format iso/,
    );
  });

  it('refuses a raw output larger than image_size_cap before converting', async () => {
    resetCalls();
    const dir = workDir();
    await refused(
      imageConversionPlugin(options({ maxBytes: MIB })).run(staged('big.qcow2', 'qcow2'), pluginContext(dir)),
      'SIZE_LIMIT',
      /67108864 bytes.*image_size_cap/,
    );
    assert.deepEqual(calledSubcommands(), ['info']);
    assert.deepEqual(filesIn(dir), []);
  });

  it('checks what qemu-img itself reports: backing file, data-file, format, VMDK create type', () => {
    const declared = { diskFormat: 'qcow2', driver: 'qcow2' };
    const overlay = parseQemuImageInfo(qemuImg('info', '-f', 'qcow2', '--output=json', 'overlay.qcow2'));
    assert.equal(overlay.backingFile, 'disk.qcow2');
    assert.throws(() => checkQemuImageInfo(overlay, declared, []), /QCOW images with backing files are not allowed \(backing file "disk.qcow2"\)/);
    const dataFile = parseQemuImageInfo(qemuImg('info', '-f', 'qcow2', '--output=json', 'data-file.qcow2'));
    assert.throws(() => checkQemuImageInfo(dataFile, declared, []), /QCOW images with data-file set are not allowed \(data-file "external.raw"\)/);
    const raw = parseQemuImageInfo(qemuImg('info', '-f', 'raw', '--output=json', 'disk.qcow2'));
    assert.throws(() => checkQemuImageInfo(raw, declared, []), /disk_format is qcow2 but qemu-img reads the image as "raw"/);
    const vmdk = parseQemuImageInfo(qemuImg('info', '-f', 'vmdk', '--output=json', 'disk.vmdk'));
    assert.equal(vmdk.vmdkCreateType, 'monolithicSparse');
    checkQemuImageInfo(vmdk, { diskFormat: 'vmdk', driver: 'vmdk' }, DEFAULT_VMDK_ALLOWED_TYPES);
    assert.throws(
      () => checkQemuImageInfo(vmdk, { diskFormat: 'vmdk', driver: 'vmdk' }, []),
      /Invalid VMDK create-type "monolithicSparse" \(none is allowed\)/,
    );
    assert.throws(() => parseQemuImageInfo('{"format": "raw"}'), /valid virtual size/);
    assert.throws(() => parseQemuImageInfo('qemu-img: oops'), /not JSON/);
  });

  describe('qemu-img under limits', () => {
    const signal = new AbortController().signal;

    it('kills qemu-img past its wall-clock limit', async () => {
      const tight = settings({ infoLimits: { ...DEFAULT_QEMU_IMG_SETTINGS.infoLimits, timeoutMs: 1 } });
      await refused(qemuImgInfo(tight, join(fixtures, 'disk.qcow2'), 'qcow2', signal), 'TOOL_LIMIT', /qemu-img info did not finish within 1 ms and was killed/);
    });

    it('runs qemu-img inside its address-space limit', async () => {
      // 16 MiB is too little for qemu-img to map its libraries or start its threads.
      const tight = { ...DEFAULT_QEMU_IMG_SETTINGS, infoLimits: { ...DEFAULT_QEMU_IMG_SETTINGS.infoLimits, addressSpaceBytes: 16 * MIB } };
      await refused(
        qemuImgInfo(tight, join(fixtures, 'disk.qcow2'), 'qcow2', signal),
        'TOOL_FAILED',
        /^qemu-img info (failed with exit status \d+|was killed by SIGABRT): .*(map|memory|alloc|Resource temporarily unavailable)/i,
      );
    });

    it('kills a process past its CPU time limit (SIGXCPU)', async () => {
      const started = Date.now();
      await refused(
        runLimited({
          label: 'a busy loop',
          plugin: 'image_conversion',
          prlimit: PRLIMIT,
          command: '/bin/sh',
          args: ['-c', 'while :; do :; done'],
          limits: { cpuSeconds: 1, addressSpaceBytes: null, timeoutMs: 20_000 },
          signal,
          maxStdoutBytes: 1024,
        }),
        'TOOL_LIMIT',
        /a busy loop used more than its CPU time limit of 1 s and was killed/,
      );
      assert.ok(Date.now() - started < 10_000);
    });

    it('stops qemu-img when the signal aborts', async () => {
      const controller = new AbortController();
      const running = runLimited({
        label: 'a sleeper',
        plugin: 'image_conversion',
        prlimit: PRLIMIT,
        command: '/bin/sleep',
        args: ['30'],
        limits: { cpuSeconds: 5, addressSpaceBytes: null, timeoutMs: 60_000 },
        signal: controller.signal,
        maxStdoutBytes: 1024,
      });
      setTimeout(() => controller.abort(), 50);
      await refused(running, 'ABORTED', /a sleeper was cancelled/);
    });

    it('reports a failing qemu-img with its stderr, without our paths', async () => {
      const missing = join(fixtures, 'missing.qcow2');
      await assert.rejects(qemuImgInfo(settings(), missing, 'qcow2', signal), (error: unknown) => {
        assert.ok(error instanceof ImportPluginError);
        assert.equal(error.code, 'TOOL_FAILED');
        assert.match(error.message, /^qemu-img info failed with exit status 1: qemu-img: Could not open 'the image': Could not open 'the image': No such file/);
        assert.doesNotMatch(error.message, new RegExp(fixtures));
        return true;
      });
    });
  });
});
