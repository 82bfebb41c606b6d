/**
 * Matching hosts against allowed_hosts / disallowed_hosts (reference §9.5). Names compare without
 * case and without a final dot (`EVIL.example.` is `evil.example`: otherwise a trailing dot would
 * slip past disallowed_hosts); Unicode names compare in their punycode form, as URLs carry them.
 * IP entries compare as addresses (`::1` matches `0:0::1`, with or without brackets).
 */
import { domainToASCII } from 'node:url';
import { parseIp, sameIp, type IpAddress } from './ip-address.js';

export type HostEntry = { readonly kind: 'name'; readonly name: string } | { readonly kind: 'address'; readonly address: IpAddress };

export function parseHostEntry(entry: string): HostEntry {
  const trimmed = entry.trim();
  const unbracketed = trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  const address = parseIp(unbracketed);
  if (address !== null) return { kind: 'address', address };
  return { kind: 'name', name: normaliseHostName(unbracketed) };
}

/** Lower case, punycode, no final dot: the form names are compared in. */
export function normaliseHostName(name: string): string {
  const lower = name.toLowerCase();
  const ascii = /^[\x20-\x7e]*$/.test(lower) ? lower : domainToASCII(lower) || lower;
  return ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
}

/** Whether the URL's host (a normalised name, or an IP literal) is one of the entries. */
export function hostInList(entries: readonly string[], host: { readonly name: string; readonly address: IpAddress | null }): boolean {
  return entries.some((raw) => {
    const entry = parseHostEntry(raw);
    if (entry.kind === 'address') return host.address !== null && sameIp(entry.address, host.address);
    return host.address === null && entry.name === host.name;
  });
}

/** Whether a resolved address is one of the IP entries (names never match an address). */
export function addressInList(entries: readonly string[], address: IpAddress): boolean {
  return entries.some((raw) => {
    const entry = parseHostEntry(raw);
    return entry.kind === 'address' && sameIp(entry.address, address);
  });
}
