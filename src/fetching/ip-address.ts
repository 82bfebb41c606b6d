/**
 * IP literals: strict parsing (node:net's isIP decides what is an address, so `127.1` or
 * `0x7f000001` are not) and classification by the special-purpose ranges a fetcher must not reach
 * on a user's behalf (reference §9.5: loopback and link-local blocked, RFC 1918 allowed).
 *
 * Decisions beyond the reference:
 * - 100.64.0.0/10 (shared address space, RFC 6598) is 'reserved', not private: providers put
 *   internal services there (Alibaba Cloud's metadata service is 100.100.100.200). A mirror in
 *   that range must be named in allowed_hosts.
 * - fc00::/7 (unique local) is private, like RFC 1918; AWS's IPv6 metadata address inside it,
 *   fd00:ec2::254, is 'metadata' and refused.
 * - Addresses that embed an IPv4 address and reach it through translation are classified by that
 *   IPv4 address: IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
 * - IPv6 outside 2000::/3 and the ranges above is unassigned or special, hence 'reserved'.
 */
import { isIP } from 'node:net';

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
  /** The canonical text: dotted decimal, or RFC 5952 IPv6 (lower case, longest zero run as `::`), without zone. */
  readonly text: string;
  /** The IPv6 zone (`eth0` of `fe80::1%eth0`), or null. */
  readonly zone: string | null;
}

/** What an address is. 'public' and 'private' may be fetched from; the rest only when allow-listed. */
export type AddressKind = 'public' | 'private' | 'loopback' | 'link-local' | 'multicast' | 'unspecified' | 'broadcast' | 'reserved' | 'metadata';

export type ForbiddenAddressKind = Exclude<AddressKind, 'public' | 'private'>;

export interface AddressClassification {
  readonly kind: AddressKind;
  /** The range that decided, e.g. `127.0.0.0/8`. */
  readonly range: string;
  /** The IPv4 address the class was taken from, for mapped, NAT64 and 6to4 addresses; otherwise null. */
  readonly embedded: IpAddress | null;
}

/** Parses an IP literal (no brackets; an IPv6 zone is kept apart), or returns null for anything else. */
export function parseIp(text: string): IpAddress | null {
  const family = isIP(text);
  if (family === 4) {
    const bytes = Uint8Array.from(text.split('.'), Number);
    return { family: 4, bytes, text: formatIp(bytes), zone: null };
  }
  if (family !== 6) return null;
  const percent = text.indexOf('%');
  const zone = percent < 0 ? null : text.slice(percent + 1);
  const bytes = ipv6Bytes(percent < 0 ? text : text.slice(0, percent));
  return bytes === null ? null : { family: 6, bytes, text: formatIp(bytes), zone };
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its IPv4 address; anything else unchanged. */
export function unmapIp(address: IpAddress): IpAddress {
  if (address.family === 4 || !hasPrefix(address.bytes, MAPPED_PREFIX, 96)) return address;
  return fromV4Bytes(address.bytes.subarray(12, 16));
}

/** True for ::ffff:0:0/96, which a URL must spell as plain IPv4. */
export function isMappedIpv4(address: IpAddress): boolean {
  return address.family === 6 && hasPrefix(address.bytes, MAPPED_PREFIX, 96);
}

/** The same address, comparing an IPv4-mapped IPv6 address equal to its IPv4 address; zones ignored. */
export function sameIp(a: IpAddress, b: IpAddress): boolean {
  return unmapIp(a).text === unmapIp(b).text;
}

export function classifyIp(address: IpAddress): AddressClassification {
  const table = address.family === 4 ? V4_RANGES : V6_RANGES;
  for (const range of table) {
    if (!hasPrefix(address.bytes, range.prefix, range.length)) continue;
    if (range.kind !== 'embedded') return { kind: range.kind, range: range.text, embedded: null };
    const v4 = fromV4Bytes(address.bytes.subarray(range.v4Offset, range.v4Offset + 4));
    return { ...classifyIp(v4), embedded: v4 };
  }
  // Unreachable: both tables end with a range covering everything.
  return { kind: 'reserved', range: address.family === 4 ? '0.0.0.0/0' : '::/0', embedded: null };
}

export function isForbiddenKind(kind: AddressKind): kind is ForbiddenAddressKind {
  return kind !== 'public' && kind !== 'private';
}

interface Range {
  readonly text: string;
  readonly prefix: Uint8Array;
  readonly length: number;
  readonly kind: AddressKind | 'embedded';
  /** For 'embedded': where the IPv4 address sits. */
  readonly v4Offset: number;
}

function range(cidr: string, kind: AddressKind | 'embedded', v4Offset = 0): Range {
  const [base = '', length = ''] = cidr.split('/');
  const parsed = parseIp(base);
  if (parsed === null) throw new Error(`bad built-in range ${cidr}`);
  return { text: cidr, prefix: parsed.bytes, length: Number(length), kind, v4Offset };
}

// First match wins, so narrower ranges come before the ranges that contain them.
const V4_RANGES: readonly Range[] = [
  range('0.0.0.0/8', 'unspecified'), // "this network"; Linux connects 0.0.0.0 to the local host
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'reserved'), // shared address space, see the file comment
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'), // includes 169.254.169.254, the metadata service
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  range('192.0.2.0/24', 'reserved'), // TEST-NET-1
  range('192.88.99.0/24', 'reserved'), // former 6to4 relay anycast
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'reserved'), // benchmarking
  range('198.51.100.0/24', 'reserved'), // TEST-NET-2
  range('203.0.113.0/24', 'reserved'), // TEST-NET-3
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'broadcast'),
  range('240.0.0.0/4', 'reserved'), // future use
  range('0.0.0.0/0', 'public'),
];

const V6_RANGES: readonly Range[] = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('::ffff:0:0/96', 'embedded', 12), // IPv4-mapped
  range('64:ff9b::/96', 'embedded', 12), // NAT64 well-known prefix
  range('64:ff9b:1::/48', 'reserved'), // local-use NAT64: where it leads is site-specific
  range('100::/64', 'reserved'), // discard-only
  range('2001:db8::/32', 'reserved'), // documentation
  range('2001::/23', 'reserved'), // IETF protocol assignments, including Teredo
  range('2002::/16', 'embedded', 2), // 6to4
  range('3fff::/20', 'reserved'), // documentation
  range('5f00::/16', 'reserved'), // SRv6 segment identifiers
  range('fd00:ec2::254/128', 'metadata'), // AWS instance metadata over IPv6
  range('fc00::/7', 'private'), // unique local, treated like RFC 1918
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'reserved'), // deprecated site-local
  range('ff00::/8', 'multicast'),
  range('2000::/3', 'public'),
  range('::/0', 'reserved'), // everything else is unassigned or special (including ::/96, IPv4-compatible)
];

const MAPPED_PREFIX = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0);

function hasPrefix(bytes: Uint8Array, prefix: Uint8Array, length: number): boolean {
  if (bytes.length !== prefix.length) return false;
  const whole = Math.floor(length / 8);
  for (let i = 0; i < whole; i++) if (bytes[i] !== prefix[i]) return false;
  const bits = length % 8;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return ((bytes[whole] ?? 0) & mask) === ((prefix[whole] ?? 0) & mask);
}

function fromV4Bytes(bytes: Uint8Array): IpAddress {
  const copy = Uint8Array.from(bytes);
  return { family: 4, bytes: copy, text: formatIp(copy), zone: null };
}

/** IPv6 text (already validated by isIP, without zone) to 16 bytes. */
function ipv6Bytes(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string | undefined): number[] | null => {
    if (part === undefined || part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = piece.split('.').map(Number);
        if (v4.length !== 4) return null;
        const [a = 0, b = 0, c = 0, d = 0] = v4;
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(Number.parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || tail === null) return null;
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // RFC 5952: the longest run of two or more zero groups (the first on a tie) becomes `::`.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]): string => list.map((group) => group.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}
