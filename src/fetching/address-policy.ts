/**
 * The rule for the address a fetch would connect to: the host's literal IP, or every address its
 * name resolves to (reference §9.5, the Debian patches). Two checks:
 * - an IP entry of disallowed_hosts matches the address, so a name pointing at a denied address
 *   does not get around the list;
 * - loopback, link-local, multicast, unspecified, broadcast, reserved and metadata addresses are
 *   refused unless the URL's host is named in allowed_hosts (private ranges pass: clouds fetch from
 *   internal mirrors).
 */
import { UrlRefusedError } from './fetch-errors.js';
import { addressInList } from './host-lists.js';
import { classifyIp, isForbiddenKind, type IpAddress } from './ip-address.js';
import type { UrlFilterSettings } from './url-filter-settings.js';

export interface AddressSubject {
  /** The URL's host as written in the URL (a name, or a literal without brackets). */
  readonly hostname: string;
  /** Whether that host is named in allowed_hosts, which exempts it from the address classes. */
  readonly hostAllowListed: boolean;
  /** The URL, safe to show. */
  readonly display: string;
}

/**
 * Throws UrlRefusedError when the fetch must not connect to `address`: `literal` when it is the
 * URL's own host, `resolved` when the URL's name resolved to it.
 */
export function checkAddress(address: IpAddress, subject: AddressSubject, settings: UrlFilterSettings, how: 'literal' | 'resolved'): void {
  const what = how === 'literal' ? `${address.text} is` : `'${subject.hostname}' resolves to ${address.text}, which is`;
  // As for names, disallowed_hosts counts only when allowed_hosts is empty.
  if (settings.allowedHosts.length === 0 && addressInList(settings.disallowedHosts, address)) {
    throw new UrlRefusedError('host-denied', subject.display, `${what} in disallowed_hosts`);
  }
  if (subject.hostAllowListed) return;
  const { kind, range, embedded } = classifyIp(address);
  if (!isForbiddenKind(kind)) return;
  const via = embedded === null ? '' : `, embedding ${embedded.text}`;
  throw new UrlRefusedError(kind, subject.display, `${what} a ${kind} address (${range}${via}), allowed only for a host named in allowed_hosts`);
}
