import { crc32, deflateRawSync } from 'node:zlib';

/** One member for `buildZip`; `claimedSize` makes the central directory lie about the expanded size. */
export interface ZipMember {
  readonly name: string;
  readonly data: Buffer;
  readonly method?: 0 | 8;
  readonly claimedSize?: number;
  /** Deflated bytes to store instead of deflating `data` (a bomb built from a stream). */
  readonly deflated?: Buffer;
  readonly claimedCrc?: number;
}

/**
 * A plain (not zip64) archive, byte by byte from the PKWARE layout: local header + data per
 * member, then the central directory and its end record. For archives /usr/bin/zip will not
 * make: several members under test control, a directory that lies.
 */
export function buildZip(members: readonly ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const method = member.method ?? 8;
    const body = member.deflated ?? (method === 8 ? deflateRawSync(member.data) : member.data);
    const name = Buffer.from(member.name, 'utf8');
    const crc = member.claimedCrc ?? crc32(member.data);
    const size = member.claimedSize ?? member.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
