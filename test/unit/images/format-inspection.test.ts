import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { FormatInspector, type InspectionResult } from '../../../src/images/format-inspection/format-inspector.js';
import { checkDeclaredFormat, DEFAULT_VMDK_ALLOWED_TYPES, type FormatPolicyOptions } from '../../../src/images/format-inspection/format-policy.js';

/**
 * The streaming format inspector against real images made by qemu-img (the reference reader of
 * these formats), plus hand-built discs and partition tables, hostile headers and garbage.
 */

const QEMU_IMG = '/usr/bin/qemu-img';
const HAVE_QEMU = existsSync(QEMU_IMG);
const MIB = 1024 * 1024;
const DEFAULTS: FormatPolicyOptions = { requireImageFormatMatch: true, vmdkAllowedTypes: DEFAULT_VMDK_ALLOWED_TYPES };

interface Fixture {
  /** Arguments for `qemu-img create` (empty: the file is a by-product of another fixture). */
  readonly create: readonly string[];
  readonly file: string;
  /** The driver to ask `qemu-img info` for the reference virtual size, or null if it cannot open it. */
  readonly qemuFormat: string | null;
  readonly format: InspectionResult['format'];
  readonly variant?: string;
  readonly problems: readonly string[];
  /** The disk_format an honest user would declare. */
  readonly declared: string;
}

// Distinct sizes per image so a virtual size cannot match by accident.
const FIXTURES: readonly Fixture[] = [
  { create: ['-f', 'qcow2', 'base.qcow2', '1G'], file: 'base.qcow2', qemuFormat: 'qcow2', format: 'qcow2', variant: 'v3', problems: [], declared: 'qcow2' },
  {
    create: ['-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '64M'],
    file: 'v2.qcow2',
    qemuFormat: 'qcow2',
    format: 'qcow2',
    variant: 'v2',
    problems: [],
    declared: 'qcow2',
  },
  {
    create: ['-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'backed.qcow2'],
    file: 'backed.qcow2',
    qemuFormat: 'qcow2',
    format: 'qcow2',
    variant: 'v3',
    problems: ['qcow2-backing-file'],
    declared: 'qcow2',
  },
  {
    create: ['-f', 'qcow2', '-o', 'compat=0.10', '-b', 'base.qcow2', '-F', 'qcow2', 'backed-v2.qcow2'],
    file: 'backed-v2.qcow2',
    qemuFormat: 'qcow2',
    format: 'qcow2',
    variant: 'v2',
    problems: ['qcow2-backing-file'],
    declared: 'qcow2',
  },
  {
    create: ['-f', 'qcow2', '-o', 'data_file=external.raw', 'datafile.qcow2', '16M'],
    file: 'datafile.qcow2',
    qemuFormat: 'qcow2',
    format: 'qcow2',
    variant: 'v3',
    problems: ['qcow2-data-file'],
    declared: 'qcow2',
  },
  {
    create: ['-f', 'vmdk', 'sparse.vmdk', '100M'],
    file: 'sparse.vmdk',
    qemuFormat: 'vmdk',
    format: 'vmdk',
    variant: 'monolithicSparse',
    problems: [],
    declared: 'vmdk',
  },
  {
    create: ['-f', 'vmdk', '-o', 'subformat=streamOptimized', 'stream.vmdk', '3G'],
    file: 'stream.vmdk',
    qemuFormat: 'vmdk',
    format: 'vmdk',
    variant: 'streamOptimized',
    problems: [],
    declared: 'vmdk',
  },
  {
    create: ['-f', 'vmdk', '-o', 'subformat=monolithicFlat', 'flat.vmdk', '12M'],
    file: 'flat.vmdk',
    qemuFormat: 'vmdk',
    format: 'vmdk',
    variant: 'monolithicFlat',
    problems: ['vmdk-extent'],
    declared: 'vmdk',
  },
  {
    create: ['-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', 'split.vmdk', '5G'],
    file: 'split.vmdk',
    qemuFormat: 'vmdk',
    format: 'vmdk',
    variant: 'twoGbMaxExtentSparse',
    problems: ['vmdk-extent'],
    declared: 'vmdk',
  },
  // One extent of the split image on its own: a sparse extent whose descriptor area is empty.
  { create: [], file: 'split-s001.vmdk', qemuFormat: null, format: 'vmdk', problems: [], declared: 'vmdk' },
  {
    create: ['-f', 'vmdk', '-b', 'sparse.vmdk', '-F', 'vmdk', 'delta.vmdk'],
    file: 'delta.vmdk',
    qemuFormat: 'vmdk',
    format: 'vmdk',
    variant: 'monolithicSparse',
    problems: ['vmdk-backing-file'],
    declared: 'vmdk',
  },
  { create: ['-f', 'vpc', 'dynamic.vhd', '50M'], file: 'dynamic.vhd', qemuFormat: 'vpc', format: 'vhd', variant: 'dynamic', problems: [], declared: 'vhd' },
  {
    create: ['-f', 'vpc', '-o', 'subformat=fixed', 'fixed.vhd', '4M'],
    file: 'fixed.vhd',
    qemuFormat: 'vpc',
    format: 'vhd',
    variant: 'fixed',
    problems: [],
    declared: 'vhd',
  },
  { create: ['-f', 'vhdx', 'disk.vhdx', '2G'], file: 'disk.vhdx', qemuFormat: 'vhdx', format: 'vhdx', problems: [], declared: 'vhdx' },
  { create: ['-f', 'vdi', 'disk.vdi', '300M'], file: 'disk.vdi', qemuFormat: 'vdi', format: 'vdi', variant: 'dynamic', problems: [], declared: 'vdi' },
  {
    create: ['-f', 'vdi', '-o', 'static=on', 'static.vdi', '2M'],
    file: 'static.vdi',
    qemuFormat: 'vdi',
    format: 'vdi',
    variant: 'fixed',
    problems: [],
    declared: 'vdi',
  },
  { create: ['-f', 'qed', 'disk.qed', '20M'], file: 'disk.qed', qemuFormat: 'qed', format: 'qed', problems: [], declared: 'qed' },
  {
    create: ['-f', 'qed', '-b', 'base.qcow2', '-F', 'qcow2', 'backed.qed'],
    file: 'backed.qed',
    qemuFormat: 'qed',
    format: 'qed',
    problems: ['qed-backing-file'],
    declared: 'qed',
  },
  { create: ['-f', 'raw', 'disk.raw', '3M'], file: 'disk.raw', qemuFormat: 'raw', format: 'raw', problems: [], declared: 'raw' },
];

// ---- helpers ---------------------------------------------------------------------------------

let dir = '';
const cache = new Map<string, Buffer>();

function image(file: string): Buffer {
  let bytes = cache.get(file);
  if (bytes === undefined) {
    bytes = readFileSync(join(dir, file));
    cache.set(file, bytes);
  }
  return bytes;
}

function fixture(file: string): Fixture {
  const found = FIXTURES.find((f) => f.file === file);
  assert.ok(found, file);
  return found;
}

function qemuVirtualSize(file: string, format: string): number {
  const out = execFileSync(QEMU_IMG, ['info', '--output=json', '-f', format, file], { cwd: dir, encoding: 'utf8' });
  const info: unknown = JSON.parse(out);
  assert.ok(typeof info === 'object' && info !== null && 'virtual-size' in info, out);
  const size = info['virtual-size'];
  assert.equal(typeof size, 'number');
  return Number(size);
}

/** Feeds `bytes` in chunks whose sizes come from `sizes` (cycled), then takes the result. */
function inspectInChunks(bytes: Buffer, sizes: readonly number[]): InspectionResult {
  const inspector = new FormatInspector();
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    inspector.push(bytes.subarray(at, at + size));
    at += size;
  }
  assert.equal(inspector.bytesSeen, bytes.length);
  return inspector.result(bytes.length);
}

function codes(problems: readonly { readonly code: string }[]): string[] {
  return problems.map((p) => p.code).sort();
}

function policy(result: InspectionResult, declared: string, options: Partial<FormatPolicyOptions> = {}): string[] {
  return codes(checkDeclaredFormat(result, declared, { ...DEFAULTS, ...options }));
}

/** A deterministic byte generator so the crafted chunk patterns are reproducible. */
function seededSizes(seed: number, count: number, max: number): number[] {
  let state = seed >>> 0;
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    sizes.push(1 + (state % max));
  }
  return sizes;
}

function sectorCount(bytes: number): number {
  return bytes / 512;
}

/** ECMA-119 volume descriptor set: a PVD of `blocks` 2048-byte blocks and a terminator. */
function craftIso(blocks: number): Buffer {
  const iso = Buffer.alloc(blocks * 2048);
  const pvd = 0x8000;
  iso[pvd] = 1;
  iso.write('CD001', pvd + 1, 'latin1');
  iso[pvd + 6] = 1;
  iso.writeUInt32LE(blocks, pvd + 80);
  iso.writeUInt32BE(blocks, pvd + 84);
  iso.writeUInt16LE(2048, pvd + 128);
  iso.writeUInt16BE(2048, pvd + 130);
  const terminator = pvd + 2048;
  iso[terminator] = 255;
  iso.write('CD001', terminator + 1, 'latin1');
  iso[terminator + 6] = 1;
  return iso;
}

function writeMbrEntry(disk: Buffer, index: number, status: number, type: number): void {
  const at = 446 + index * 16;
  disk[at] = status;
  disk[at + 4] = type;
  disk[510] = 0x55;
  disk[511] = 0xaa;
}

function craftGpt(size: number, sector: 512 | 4096): Buffer {
  const disk = Buffer.alloc(size);
  writeMbrEntry(disk, 0, 0x00, 0xee);
  disk.write('EFI PART', sector, 'latin1');
  disk.writeUInt32LE(0x00010000, sector + 8);
  disk.writeUInt32LE(92, sector + 12);
  return disk;
}

function guidOnDisk(guid: string): Buffer {
  const raw = Buffer.from(guid.replaceAll('-', ''), 'hex');
  return Buffer.concat([
    Buffer.from(raw.subarray(0, 4)).reverse(),
    Buffer.from(raw.subarray(4, 6)).reverse(),
    Buffer.from(raw.subarray(6, 8)).reverse(),
    raw.subarray(8),
  ]);
}

const VHDX_METADATA_REGION = guidOnDisk('8B7CA206-4790-4B9A-B8FE-575F050F886E');

/** A copy of a VHDX whose metadata region (and region-table entry) is moved to `newOffset`. */
function moveVhdxMetadata(vhdx: Buffer, newOffset: number): Buffer {
  const table = 192 * 1024;
  const count = vhdx.readUInt32LE(table + 8);
  for (let i = 0; i < count; i++) {
    const entry = table + 16 + i * 32;
    if (!vhdx.subarray(entry, entry + 16).equals(VHDX_METADATA_REGION)) continue;
    const oldOffset = Number(vhdx.readBigUInt64LE(entry + 16));
    const length = vhdx.readUInt32LE(entry + 24);
    const moved = Buffer.alloc(Math.max(vhdx.length, newOffset + length));
    vhdx.copy(moved);
    moved.fill(0, oldOffset, oldOffset + length);
    vhdx.copy(moved, newOffset, oldOffset, oldOffset + length);
    moved.writeBigUInt64LE(BigInt(newOffset), entry + 16);
    return moved;
  }
  assert.fail('no metadata region in the VHDX region table');
}

/** A copy of a sparse VMDK whose embedded descriptor text is replaced (same place, NUL padded). */
function withDescriptor(vmdk: Buffer, text: string): Buffer {
  const copy = Buffer.from(vmdk);
  const offset = Number(copy.readBigUInt64LE(28)) * 512;
  const length = Number(copy.readBigUInt64LE(36)) * 512;
  assert.ok(Buffer.byteLength(text) <= length);
  copy.fill(0, offset, offset + length);
  copy.write(text, offset, 'latin1');
  return copy;
}

// ---- tests -----------------------------------------------------------------------------------

describe('format inspection', () => {
  before(() => {
    // Fixtures come from Debian's qemu-img (scripts/install-test-deps.sh installs qemu-utils).
    assert.ok(HAVE_QEMU, `${QEMU_IMG} is missing: run scripts/install-test-deps.sh`);
    dir = mkdtempSync(join(tmpdir(), 'glimpse-format-inspection-'));
    for (const f of FIXTURES) {
      if (f.create.length > 0) execFileSync(QEMU_IMG, ['create', ...f.create], { cwd: dir, stdio: 'ignore' });
    }
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('images made by qemu-img', () => {
    for (const f of FIXTURES) {
      it(`${f.file}: ${f.format}${f.variant === undefined ? '' : ` (${f.variant})`}, problems [${f.problems.join(', ')}]`, () => {
        const result = FormatInspector.inspect(image(f.file));
        assert.equal(result.format, f.format);
        assert.equal(result.variant, f.variant);
        assert.deepEqual(codes(result.problems), [...f.problems].sort());
        if (f.qemuFormat !== null) assert.equal(result.virtualSize, qemuVirtualSize(f.file, f.qemuFormat));
      });
    }

    it('bare sparse extent: qemu-img refuses it, we report its capacity and no create type', () => {
      const result = FormatInspector.inspect(image('split-s001.vmdk'));
      assert.equal(result.virtualSize, image('split-s001.vmdk').readUInt32LE(12) * 512);
      assert.equal(result.variant, undefined);
    });

    it('the virtual size of a VHDX is read from its metadata region past the first MiB', () => {
      const vhdx = image('disk.vhdx');
      const table = 192 * 1024;
      const entries = vhdx.readUInt32LE(table + 8);
      const offsets = Array.from({ length: entries }, (_, i) => table + 16 + i * 32)
        .filter((entry) => vhdx.subarray(entry, entry + 16).equals(VHDX_METADATA_REGION))
        .map((entry) => Number(vhdx.readBigUInt64LE(entry + 16)));
      assert.equal(offsets.length, 1);
      assert.ok((offsets[0] ?? 0) >= MIB, 'qemu puts the metadata region past the kept prefix');
      assert.equal(FormatInspector.inspect(vhdx).virtualSize, 2 * 1024 * MIB);
    });
  });

  describe('crafted images', () => {
    it('ISO 9660: CD001 at 0x8001, size from the primary volume descriptor', () => {
      const iso = craftIso(96);
      const result = FormatInspector.inspect(iso);
      assert.equal(result.format, 'iso');
      assert.equal(result.variant, 'iso9660');
      assert.equal(result.virtualSize, 96 * 2048);
      assert.deepEqual(result.problems, []);
    });

    it('the ISO volume size comes from the descriptor, not from the upload size', () => {
      const iso = Buffer.concat([craftIso(96), Buffer.alloc(4096)]);
      assert.equal(FormatInspector.inspect(iso).virtualSize, 96 * 2048);
    });

    it('hybrid ISO with an MBR is an iso', () => {
      const iso = craftIso(64);
      writeMbrEntry(iso, 0, 0x80, 0x17);
      assert.equal(FormatInspector.inspect(iso).format, 'iso');
    });

    it('UDF volume recognition sequence is an iso', () => {
      const udf = Buffer.alloc(64 * 2048);
      udf.write('BEA01', 0x8001, 'latin1');
      udf.write('NSR02', 0x8801, 'latin1');
      udf.write('TEA01', 0x9001, 'latin1');
      const result = FormatInspector.inspect(udf);
      assert.equal(result.format, 'iso');
      assert.equal(result.variant, 'udf');
      assert.equal(result.virtualSize, udf.length);
    });

    it('GPT at LBA 1 for 512-byte and 4K sectors; virtual size is the file size', () => {
      for (const sector of [512, 4096] as const) {
        const disk = craftGpt(2 * MIB + 4096, sector);
        const result = FormatInspector.inspect(disk);
        assert.equal(result.format, 'gpt', `sector ${sector}`);
        assert.equal(result.virtualSize, disk.length);
      }
    });

    it('MBR needs the boot signature and a plausible partition entry', () => {
      const disk = Buffer.alloc(MIB);
      writeMbrEntry(disk, 1, 0x80, 0x83);
      assert.equal(FormatInspector.inspect(disk).format, 'mbr');
      assert.equal(FormatInspector.inspect(disk).virtualSize, MIB);

      const noPartition = Buffer.alloc(MIB);
      writeMbrEntry(noPartition, 0, 0x00, 0x00);
      assert.equal(FormatInspector.inspect(noPartition).format, 'raw');

      const bootCode = Buffer.alloc(MIB, 0x90);
      bootCode[510] = 0x55;
      bootCode[511] = 0xaa;
      assert.equal(FormatInspector.inspect(bootCode).format, 'raw', 'status bytes 0x90 are not partition entries');
    });

    it('a fixed VHD footer is found at the end whatever the alignment and chunking', () => {
      const shifted = Buffer.concat([Buffer.alloc(100), image('fixed.vhd')]);
      const expected = { format: 'vhd', virtualSize: qemuVirtualSize('fixed.vhd', 'vpc'), problems: [], variant: 'fixed' };
      assert.deepEqual(FormatInspector.inspect(shifted), expected);
      for (const sizes of [[1], [7], [511, 3], [4096]]) assert.deepEqual(inspectInChunks(shifted, sizes), expected);
      const badChecksum = Buffer.from(image('fixed.vhd'));
      const checksumAt = badChecksum.length - 512 + 64;
      badChecksum.writeUInt32BE((badChecksum.readUInt32BE(checksumAt) ^ 1) >>> 0, checksumAt);
      assert.equal(FormatInspector.inspect(badChecksum).format, 'raw');
    });

    it('accepts Uint8Array chunks as well as Buffers', () => {
      const bytes = image('base.qcow2');
      const inspector = new FormatInspector();
      inspector.push(new Uint8Array(bytes.buffer, bytes.byteOffset, 1000));
      inspector.push(new Uint8Array(bytes.subarray(1000)));
      assert.deepEqual(inspector.result(bytes.length), FormatInspector.inspect(bytes));
    });

    it('empty and tiny uploads are raw', () => {
      assert.deepEqual(FormatInspector.inspect(Buffer.alloc(0)), { format: 'raw', virtualSize: 0, problems: [] });
      assert.deepEqual(FormatInspector.inspect(Buffer.from('hello')), { format: 'raw', virtualSize: 5, problems: [] });
    });

    it('a text file starting like a VMDK descriptor is a descriptor-only vmdk', () => {
      const text = Buffer.from('# Disk DescriptorFile\nversion=1\ncreateType="vmfs"\nRW 2048 VMFS "/vmfs/volumes/x/disk-flat.vmdk"\n');
      const result = FormatInspector.inspect(text);
      assert.equal(result.format, 'vmdk');
      assert.equal(result.variant, 'vmfs');
      assert.equal(result.virtualSize, 2048 * 512);
      assert.deepEqual(codes(result.problems), ['vmdk-extent']);
      const versionFirst = Buffer.from('\n# comment\nversion=1\ncreateType="monolithicFlat"\n');
      assert.equal(FormatInspector.inspect(versionFirst).format, 'vmdk');
    });
  });

  describe('safety problems', () => {
    it('qcow2 unknown incompatible feature bits', () => {
      const qcow2 = Buffer.from(image('base.qcow2'));
      qcow2.writeBigUInt64BE(1n << 40n, 72);
      assert.deepEqual(codes(FormatInspector.inspect(qcow2).problems), ['qcow2-unknown-features']);
    });

    it('qcow2 external data file found through the header extension alone', () => {
      const qcow2 = Buffer.from(image('datafile.qcow2'));
      qcow2.writeBigUInt64BE(qcow2.readBigUInt64BE(72) & ~4n, 72);
      const result = FormatInspector.inspect(qcow2);
      assert.deepEqual(codes(result.problems), ['qcow2-data-file']);
      assert.match(result.problems[0]?.message ?? '', /0x44415441/);
    });

    it('sparse VMDK whose embedded descriptor names a FLAT extent or a second SPARSE file', () => {
      const sparse = image('sparse.vmdk');
      const sectors = sectorCount(100 * MIB);
      const flat = withDescriptor(sparse, `# Disk DescriptorFile\nversion=1\ncreateType="monolithicSparse"\nRW ${sectors} FLAT "/etc/shadow" 0\n`);
      assert.deepEqual(codes(FormatInspector.inspect(flat).problems), ['vmdk-extent']);
      const two = withDescriptor(
        sparse,
        `# Disk DescriptorFile\nversion=1\ncreateType="monolithicSparse"\nRW 1 SPARSE "self.vmdk"\nRW 2 ZERO\nRW 3 SPARSE "other.vmdk"\n`,
      );
      const result = FormatInspector.inspect(two);
      assert.deepEqual(codes(result.problems), ['vmdk-extent']);
      assert.match(result.problems[0]?.message ?? '', /1 extent\(s\).*other\.vmdk/);
    });

    it('sparse VMDK whose descriptor text fills its whole area (no NUL) is corrupt', () => {
      const sparse = image('sparse.vmdk');
      const length = Number(sparse.readBigUInt64LE(36)) * 512;
      const full = withDescriptor(sparse, `createType="monolithicSparse"\n${'#'.repeat(length - 31)}\n`);
      const result = FormatInspector.inspect(full);
      assert.deepEqual(codes(result.problems), ['corrupt-header']);
      assert.match(result.problems[0]?.message ?? '', /NUL-terminated/);
    });

    it('sparse VMDK with zero capacity: its descriptor extents are all outside the file', () => {
      const sparse = Buffer.from(image('sparse.vmdk'));
      sparse.writeBigUInt64LE(0n, 12);
      const result = FormatInspector.inspect(sparse);
      assert.equal(result.virtualSize, 0);
      assert.deepEqual(codes(result.problems), ['vmdk-extent']);
    });

    it('a parent hint in the sector-1 window counts even when descriptorOffset points elsewhere', () => {
      const sparse = Buffer.from(image('sparse.vmdk'));
      const descriptor = sparse.subarray(512, 512 + 20 * 512);
      const moved = Buffer.concat([sparse, Buffer.alloc(64 * 1024)]);
      const newOffset = sparse.length;
      descriptor.copy(moved, newOffset);
      moved.writeBigUInt64LE(BigInt(newOffset / 512), 28);
      moved.fill(0, 512, 512 + 20 * 512);
      moved.write('# parentFileNameHint="/etc/passwd"\n', 512, 'latin1');
      const result = FormatInspector.inspect(moved);
      assert.equal(result.variant, 'monolithicSparse');
      assert.deepEqual(codes(result.problems), ['vmdk-backing-file']);
    });

    it('differencing VHD, VHDX and VDI', () => {
      const vhd = Buffer.from(image('dynamic.vhd'));
      vhd.writeUInt32BE(4, 60);
      assert.deepEqual(codes(FormatInspector.inspect(vhd).problems), ['vhd-differencing']);

      const vhdx = Buffer.from(image('disk.vhdx'));
      const fileParameters = guidOnDisk('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
      const at = vhdx.indexOf(fileParameters);
      assert.ok(at > 0);
      guidOnDisk('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C').copy(vhdx, at);
      const result = FormatInspector.inspect(vhdx);
      assert.deepEqual(codes(result.problems), ['vhdx-differencing']);
      assert.equal(result.virtualSize, 2 * 1024 * MIB);

      const vdi = Buffer.from(image('disk.vdi'));
      vdi.writeUInt32LE(4, 76);
      assert.deepEqual(codes(FormatInspector.inspect(vdi).problems), ['vdi-differencing']);
    });

    it('QED unknown feature bits', () => {
      const qed = Buffer.from(image('disk.qed'));
      qed.writeBigUInt64LE(1n << 9n, 16);
      assert.deepEqual(codes(FormatInspector.inspect(qed).problems), ['qed-unknown-features']);
    });
  });

  describe('corrupt headers', () => {
    const truncations: readonly (readonly [string, number])[] = [
      ['base.qcow2', 50],
      ['base.qcow2', 100],
      ['disk.qed', 40],
      ['sparse.vmdk', 60],
      ['sparse.vmdk', 700],
      ['dynamic.vhd', 300],
      ['disk.vhdx', 100_000],
      ['disk.vdi', 200],
    ];
    for (const [file, length] of truncations) {
      it(`${file} cut to ${length} bytes`, () => {
        const result = FormatInspector.inspect(image(file).subarray(0, length));
        assert.equal(result.format, fixture(file).format);
        assert.deepEqual(codes(result.problems), ['corrupt-header']);
        assert.deepEqual(
          policy(result, fixture(file).declared).filter((c) => c === 'corrupt-header'),
          ['corrupt-header'],
        );
      });
    }

    it('qcow2 version, cluster size and header extensions out of bounds', () => {
      const badVersion = Buffer.from(image('base.qcow2'));
      badVersion.writeUInt32BE(4, 4);
      assert.deepEqual(codes(FormatInspector.inspect(badVersion).problems), ['corrupt-header']);

      const badCluster = Buffer.from(image('base.qcow2'));
      badCluster.writeUInt32BE(40, 20);
      assert.deepEqual(codes(FormatInspector.inspect(badCluster).problems), ['corrupt-header']);

      const hugeExtension = Buffer.from(image('base.qcow2'));
      const start = hugeExtension.readUInt32BE(100);
      hugeExtension.writeUInt32BE(0x12345678, start);
      hugeExtension.writeUInt32BE(0xffffffff, start + 4);
      assert.deepEqual(codes(FormatInspector.inspect(hugeExtension).problems), ['corrupt-header']);

      const endless = Buffer.from(image('base.qcow2'));
      for (let i = 0; i < 200; i++) {
        endless.writeUInt32BE(0x0badf00d, start + i * 8);
        endless.writeUInt32BE(0, start + i * 8 + 4);
      }
      const result = FormatInspector.inspect(endless);
      assert.deepEqual(codes(result.problems), ['corrupt-header']);
      assert.match(result.problems[0]?.message ?? '', /more than \d+ header extensions/);
    });

    it('VMDK descriptor larger than 1 MiB, in a sparse header or as a text file', () => {
      const sparse = Buffer.from(image('sparse.vmdk'));
      sparse.writeBigUInt64LE(2049n, 36);
      assert.deepEqual(codes(FormatInspector.inspect(sparse).problems), ['corrupt-header']);

      const text = Buffer.alloc(MIB + 1, 0x20);
      text.write('# Disk DescriptorFile\nversion=1\ncreateType="monolithicSparse"\n');
      assert.deepEqual(codes(FormatInspector.inspect(text).problems), ['corrupt-header']);
    });

    it('64-bit sizes beyond 2^53 are corrupt, not rounded', () => {
      const qcow2 = Buffer.from(image('base.qcow2'));
      qcow2.writeBigUInt64BE(1n << 60n, 24);
      const result = FormatInspector.inspect(qcow2);
      assert.equal(result.virtualSize, null);
      assert.deepEqual(codes(result.problems), ['corrupt-header']);
    });
  });

  describe('bounded look-ahead', () => {
    it('VHDX metadata moved to 20 MiB is still read; at 40 MiB (past the 32 MiB window) the size is unknown', () => {
      const near = moveVhdxMetadata(image('disk.vhdx'), 20 * MIB);
      assert.equal(inspectInChunks(near, [65536]).virtualSize, 2 * 1024 * MIB);
      const far = moveVhdxMetadata(image('disk.vhdx'), 40 * MIB);
      const result = inspectInChunks(far, [65536]);
      assert.equal(result.format, 'vhdx');
      assert.equal(result.virtualSize, null);
      assert.deepEqual(result.problems, []);
    });

    it('a VMDK descriptor past the first MiB is captured; past the window it is refused as corrupt', () => {
      const sparse = image('sparse.vmdk');
      const descriptor = sparse.subarray(512, 512 + 20 * 512);
      for (const [offset, expected] of [
        [2 * MIB, []],
        [40 * MIB, ['corrupt-header']],
      ] as const) {
        const moved = Buffer.alloc(offset + descriptor.length + 4096);
        sparse.copy(moved);
        moved.fill(0, 512, 512 + descriptor.length);
        descriptor.copy(moved, offset);
        moved.writeBigUInt64LE(BigInt(offset / 512), 28);
        const result = inspectInChunks(moved, [4096, 7]);
        assert.deepEqual(codes(result.problems), expected, `descriptor at ${offset}`);
        assert.equal(result.variant, expected.length === 0 ? 'monolithicSparse' : undefined);
      }
    });
  });

  describe('streaming', () => {
    it('tiny chunks give the same result as one chunk, for every image', () => {
      const crafted = [craftIso(80), craftGpt(MIB, 512), craftGpt(MIB, 4096)];
      const images = [...FIXTURES.map((f) => image(f.file)), ...crafted, moveVhdxMetadata(image('disk.vhdx'), 20 * MIB)];
      for (const [index, bytes] of images.entries()) {
        const whole = FormatInspector.inspect(bytes);
        const patterns: (readonly number[])[] = [[7], [4096], [65537, 1, 3], seededSizes(index + 1, 97, 200_000)];
        if (bytes.length <= 8 * MIB) patterns.push([1]);
        for (const sizes of patterns) {
          assert.deepEqual(inspectInChunks(bytes, sizes), whole, `image #${index} chunked as ${sizes.slice(0, 3).join(',')}`);
        }
      }
    });

    it('memory stays bounded: only the prefix and requested regions are kept', () => {
      const inspector = new FormatInspector();
      const chunk = Buffer.alloc(4 * MIB, 0xab);
      const before = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < 64; i++) inspector.push(chunk);
      const grown = process.memoryUsage().arrayBuffers - before;
      assert.ok(grown < 16 * MIB, `grew by ${grown} bytes for 256 MiB streamed`);
      assert.deepEqual(inspector.result(256 * MIB), { format: 'raw', virtualSize: 256 * MIB, problems: [] });
    });
  });

  describe('declared format policy', () => {
    it('every honest image declared as what it is: only its safety problems remain', () => {
      for (const f of FIXTURES) {
        const result = FormatInspector.inspect(image(f.file));
        const expected = [...f.problems];
        if (f.format === 'vmdk' && (f.variant === undefined || !DEFAULT_VMDK_ALLOWED_TYPES.includes(f.variant))) {
          expected.push('vmdk-disallowed-type');
        }
        assert.deepEqual(policy(result, f.declared), expected.sort(), f.file);
      }
    });

    it('raw declared as qcow2 and qcow2 declared as raw are refused', () => {
      assert.deepEqual(policy(FormatInspector.inspect(image('disk.raw')), 'qcow2'), ['format-mismatch']);
      assert.deepEqual(policy(FormatInspector.inspect(image('base.qcow2')), 'raw'), ['format-mismatch']);
      const message = checkDeclaredFormat(FormatInspector.inspect(image('base.qcow2')), 'raw', DEFAULTS)[0]?.message ?? '';
      assert.match(message, /disk_format is raw but its content is qcow2/);
    });

    it('every non-raw format smuggled in as raw, ami, ari or aki is refused', () => {
      for (const file of ['base.qcow2', 'sparse.vmdk', 'dynamic.vhd', 'disk.vhdx', 'disk.vdi', 'disk.qed']) {
        for (const declared of ['raw', 'ami', 'ari', 'aki']) {
          assert.ok(policy(FormatInspector.inspect(image(file)), declared).includes('format-mismatch'), `${file} as ${declared}`);
        }
      }
      assert.ok(policy(FormatInspector.inspect(craftIso(64)), 'raw').includes('format-mismatch'));
    });

    it('raw-like content is accepted for raw-like declarations; mismatched otherwise', () => {
      const rawLike = [
        image('disk.raw'),
        craftGpt(MIB, 512),
        (() => {
          const mbr = Buffer.alloc(MIB);
          writeMbrEntry(mbr, 0, 0x80, 0x83);
          return mbr;
        })(),
      ];
      for (const bytes of rawLike) {
        const result = FormatInspector.inspect(bytes);
        for (const declared of ['raw', 'ami', 'ari', 'aki']) assert.deepEqual(policy(result, declared), [], `${result.format} as ${declared}`);
        for (const declared of ['qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi']) assert.deepEqual(policy(result, declared), ['format-mismatch']);
      }
    });

    it('iso accepts an ISO and a hybrid ISO/GPT/MBR image, not a plain raw disk', () => {
      const hybrid = craftIso(64);
      writeMbrEntry(hybrid, 0, 0x80, 0x17);
      assert.deepEqual(policy(FormatInspector.inspect(craftIso(64)), 'iso'), []);
      assert.deepEqual(policy(FormatInspector.inspect(hybrid), 'iso'), []);
      assert.deepEqual(policy(FormatInspector.inspect(craftGpt(MIB, 512)), 'iso'), []);
      assert.deepEqual(policy(FormatInspector.inspect(image('disk.raw')), 'iso'), ['format-mismatch']);
      assert.deepEqual(policy(FormatInspector.inspect(image('base.qcow2')), 'iso'), ['format-mismatch']);
    });

    it('a fixed VHD is raw data plus a footer: accepted as vhd or raw; a dynamic VHD only as vhd', () => {
      const fixed = FormatInspector.inspect(image('fixed.vhd'));
      assert.deepEqual(policy(fixed, 'vhd'), []);
      assert.deepEqual(policy(fixed, 'raw'), []);
      assert.deepEqual(policy(fixed, 'qcow2'), ['format-mismatch']);
      assert.deepEqual(policy(FormatInspector.inspect(image('dynamic.vhd')), 'raw'), ['format-mismatch']);
    });

    it('qed declared raw is a mismatch', () => {
      assert.deepEqual(policy(FormatInspector.inspect(image('disk.qed')), 'raw'), ['format-mismatch']);
    });

    it('with require_image_format_match off, mismatches pass but safety problems do not', () => {
      const off = { requireImageFormatMatch: false };
      assert.deepEqual(policy(FormatInspector.inspect(image('base.qcow2')), 'raw', off), []);
      assert.deepEqual(policy(FormatInspector.inspect(image('backed.qcow2')), 'raw', off), ['qcow2-backing-file']);
      assert.deepEqual(policy(FormatInspector.inspect(image('datafile.qcow2')), 'raw', off), ['qcow2-data-file']);
      assert.deepEqual(policy(FormatInspector.inspect(image('flat.vmdk')), 'raw', off), ['vmdk-disallowed-type', 'vmdk-extent']);
    });

    it('ploop and unknown declarations skip the match check but keep safety checks', () => {
      assert.deepEqual(policy(FormatInspector.inspect(image('base.qcow2')), 'ploop'), []);
      assert.deepEqual(policy(FormatInspector.inspect(image('backed.qcow2')), 'ploop'), ['qcow2-backing-file']);
    });

    it('vmdk_allowed_types decides the create types; extents are refused regardless', () => {
      const flat = FormatInspector.inspect(image('flat.vmdk'));
      assert.deepEqual(policy(flat, 'vmdk', { vmdkAllowedTypes: ['monolithicFlat'] }), ['vmdk-extent']);
      const stream = FormatInspector.inspect(image('stream.vmdk'));
      assert.deepEqual(policy(stream, 'vmdk', { vmdkAllowedTypes: ['monolithicSparse'] }), ['vmdk-disallowed-type']);
      assert.deepEqual(policy(stream, 'vmdk', { vmdkAllowedTypes: [] }), ['vmdk-disallowed-type']);
      assert.deepEqual(policy(FormatInspector.inspect(image('split-s001.vmdk')), 'vmdk'), ['vmdk-disallowed-type']);
    });
  });

  describe('hostile input never throws', () => {
    const FORMATS = new Set(['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi', 'iso', 'qed', 'gpt', 'mbr']);

    function checkSane(bytes: Buffer, chunkSizes: readonly number[]): void {
      const whole = FormatInspector.inspect(bytes);
      assert.ok(FORMATS.has(whole.format));
      assert.ok(whole.virtualSize === null || (Number.isSafeInteger(whole.virtualSize) && whole.virtualSize >= 0));
      for (const p of whole.problems) assert.doesNotMatch(p.message, /internal inspection error/);
      assert.deepEqual(inspectInChunks(bytes, chunkSizes), whole);
      for (const declared of ['raw', 'qcow2', 'iso', 'vmdk']) checkDeclaredFormat(whole, declared, DEFAULTS);
    }

    const chunkSizes = fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 8 });

    it('random buffers', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 40_000, size: 'max' }), chunkSizes, (bytes, sizes) => {
          checkSane(Buffer.from(bytes), sizes);
        }),
        { numRuns: 300 },
      );
    });

    it('random bytes behind each magic', () => {
      const magics = ['QFI\xfb\x00\x00\x00\x03', 'QED\x00', 'KDMV\x01\x00\x00\x00', 'COWD', 'conectix', 'vhdxfile', '# Disk DescriptorFile\n'];
      fc.assert(
        fc.property(fc.constantFrom(...magics), fc.uint8Array({ maxLength: 70_000, size: 'max' }), chunkSizes, (magic, rest, sizes) => {
          checkSane(Buffer.concat([Buffer.from(magic, 'latin1'), rest]), sizes);
        }),
        { numRuns: 200 },
      );
    });

    it('mutated and truncated real images', () => {
      // Mutations land where the headers, descriptors and tables live.
      const hot = fc.oneof(
        { arbitrary: fc.integer({ min: 0, max: 127 }), weight: 6 },
        { arbitrary: fc.integer({ min: 0, max: 1023 }), weight: 2 },
        fc.integer({ min: 0x8000, max: 0x97ff }),
        fc.integer({ min: 0x30000, max: 0x300ff }),
        fc.integer({ min: 0x40000, max: 0x400ff }),
        fc.integer({ min: 3 * MIB, max: 3 * MIB + 255 }),
      );
      const files = FIXTURES.map((f) => f.file).filter((file) => image(file).length <= 8 * MIB);
      fc.assert(
        fc.property(
          fc.constantFrom(...files),
          fc.array(fc.tuple(hot, fc.integer({ min: 0, max: 255 })), { maxLength: 24, size: 'max' }),
          fc.option(fc.integer({ min: 0, max: 4 * MIB }), { nil: undefined }),
          chunkSizes,
          (file, mutations, cut, sizes) => {
            const original = image(file);
            const bytes = Buffer.from(original.subarray(0, cut ?? original.length));
            for (const [offset, value] of mutations) if (offset < bytes.length) bytes[offset] = value;
            checkSane(bytes, sizes);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
