import { projectId } from '../src/identity/embedded/embedded-users.js';

/**
 * The benchmark's images: deterministic (seeded), so Glimpse and Glance get exactly the same
 * rows. Owners are project ids as the embedded identity derives them, so a Glimpse user of
 * project `proj-00` and a Glance context with the same X-Project-Id see the same images.
 */
export interface BenchImage {
  readonly id: string;
  readonly name: string;
  readonly owner: string;
  readonly visibility: 'public' | 'private' | 'shared' | 'community';
  readonly status: 'active';
  readonly size: number;
  readonly diskFormat: string;
  readonly containerFormat: string;
  readonly minDisk: number;
  readonly minRam: number;
  readonly createdAt: Date;
  readonly properties: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
  readonly members: readonly { readonly member: string; readonly status: 'pending' | 'accepted' | 'rejected' }[];
}

export const BENCH_PROJECT = 'proj-00';
export const PROJECTS = Array.from({ length: 50 }, (_, i) => `proj-${String(i).padStart(2, '0')}`);

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function* benchImages(count: number): Generator<BenchImage> {
  const random = mulberry32(20261124);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
  const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');
  const start = Date.parse('2024-01-01T00:00:00Z');
  for (let i = 0; i < count; i += 1) {
    const roll = random();
    const visibility = roll < 0.3 ? 'public' : roll < 0.6 ? 'private' : roll < 0.9 ? 'shared' : 'community';
    const owner = projectId(pick(PROJECTS));
    const members: { member: string; status: 'pending' | 'accepted' | 'rejected' }[] = [];
    if (visibility === 'shared') {
      for (let m = 0; m < 1 + Math.floor(random() * 2); m += 1) {
        const member = projectId(random() < 0.1 ? BENCH_PROJECT : pick(PROJECTS));
        if (member !== owner && !members.some((x) => x.member === member))
          members.push({ member, status: pick(['pending', 'accepted', 'accepted', 'rejected'] as const) });
      }
    }
    const tags = [...new Set(Array.from({ length: Math.floor(random() * 4) }, () => pick(['gold', 'silver', 'bronze', 'base', 'gpu', 'test'])))];
    yield {
      id: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
      name: `img-${String(i).padStart(6, '0')}`,
      owner,
      visibility,
      status: 'active',
      size: Math.floor(random() * 10 * 1024 ** 3),
      diskFormat: pick(['qcow2', 'raw', 'vmdk', 'iso', 'vhd']),
      containerFormat: 'bare',
      minDisk: Math.floor(random() * 40),
      minRam: pick([0, 512, 1024, 2048]),
      createdAt: new Date(start + i * 60_000),
      properties: {
        os_distro: pick(['debian', 'ubuntu', 'centos', 'fedora', 'alpine', 'cirros', 'windows']),
        os_version: String(1 + Math.floor(random() * 20)),
        architecture: pick(['x86_64', 'aarch64']),
        hw_disk_bus: pick(['virtio', 'scsi', 'ide']),
        image_type: pick(['image', 'snapshot']),
        description: `benchmark image ${i}`,
      },
      tags,
      members,
    };
  }
}
