/**
 * The one URL check of every fetch and every redirect hop: everything that needs no DNS
 * (reference §9.5). Glance's order is kept: scheme, then host, then port; the address classes of
 * a literal IP come last, as the address checks of a resolved name do.
 *
 * The URL is parsed once, by the WHATWG parser (`new URL`), but first the raw text is held to a
 * stricter shape. WHATWG normalises many spellings into an ordinary host (`0x7f.1`, `2130706433`
 * and `127.1` all become 127.0.0.1, `http:example.com` gets its slashes, `\` counts as `/`), and
 * other parsers along the way (a proxy, a library, Glance's urllib) may read the same text
 * differently. A URL whose raw host is not what the parser made of it is refused rather than
 * guessed at.
 */
import { domainToASCII } from 'node:url';
import { UrlRefusedError } from './fetch-errors.js';
import { checkAddress } from './address-policy.js';
import { hostInList, normaliseHostName } from './host-lists.js';
import { isMappedIpv4, parseIp, type IpAddress } from './ip-address.js';
import { displayCleanUrl, displayUrl } from './url-display.js';
import type { UrlFilterSettings } from './url-filter-settings.js';

/** A URL that passed every check that needs no DNS. */
export interface CheckedUrl {
  /** The normalised URL. */
  readonly href: string;
  readonly scheme: 'http' | 'https';
  /** The host as the parser made it: lower case, punycode, IPv6 without brackets. */
  readonly hostname: string;
  /** The Host header value: the host, with the port when it is not the scheme's default. */
  readonly host: string;
  /** The port to connect to: the explicit one, or the scheme's default. */
  readonly port: number;
  /** Whether the URL spells a port (only then do the port lists apply). */
  readonly explicitPort: boolean;
  /** Path and query, as sent in the request line. */
  readonly path: string;
  /** The host's IP when the URL names it by address, or null for a name (which must still be resolved and checked). */
  readonly address: IpAddress | null;
  /** Whether the host is named in allowed_hosts: then its addresses may be of any class. */
  readonly hostAllowListed: boolean;
  /** The URL, safe to show in messages. */
  readonly display: string;
}

/** Longer than any image URL we expect; a bound on what a message or a log line repeats. */
export const MAX_URL_LENGTH = 8192;

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** Controls (C0, DEL, C1), invisible format characters, every kind of space, and the backslash. */
const FORBIDDEN_CHARACTERS = /[\p{Cc}\p{Cf}\p{Z}\\]/u;
const DEFAULT_PORTS = { http: 80, https: 443 } as const;
const DECIMAL_PORT = /^[1-9][0-9]{0,4}$/;

/** Checks `raw` against the filter settings; throws UrlRefusedError naming the rule it broke. */
export function checkUrl(raw: string, settings: UrlFilterSettings): CheckedUrl {
  let display = displayUrl(raw);
  const refuse = (rule: UrlRefusedError['rule'], detail: string): UrlRefusedError => new UrlRefusedError(rule, display, detail);

  if (raw.length > MAX_URL_LENGTH) throw refuse('malformed', `the URL is longer than ${MAX_URL_LENGTH} characters`);
  if (FORBIDDEN_CHARACTERS.test(raw)) throw refuse('malformed', 'the URL contains whitespace, a control character or a backslash');

  // Scheme first, as in Glance.
  const schemeMatch = SCHEME.exec(raw);
  if (schemeMatch === null) throw refuse('malformed', 'the URL has no scheme');
  const scheme = (schemeMatch[1] ?? '').toLowerCase();
  checkScheme(scheme, settings, refuse);
  if (!(scheme === 'http' || scheme === 'https')) throw refuse('scheme', `scheme '${scheme}' cannot be fetched (only http and https)`);

  // The authority, as written: `scheme://` then everything up to the path, query or fragment.
  const rest = raw.slice(schemeMatch[0].length);
  if (!rest.startsWith('//')) throw refuse('malformed', `the URL must start with ${scheme}://`);
  const afterSlashes = rest.slice(2);
  const authorityEnd = afterSlashes.search(/[/?#]/);
  const authority = authorityEnd < 0 ? afterSlashes : afterSlashes.slice(0, authorityEnd);
  if (authority.includes('@')) throw refuse('credentials', 'no credentials in URLs (user information before @)');
  // From here on the raw text holds no user information and no control characters.
  display = displayCleanUrl(raw);

  const { hostText, portText, bracketed } = splitAuthority(authority, refuse);
  if (hostText === '') throw refuse('malformed', 'the URL has no host');
  let literal: IpAddress | null = null;
  if (bracketed) {
    if (hostText.includes('%')) throw refuse('zone-id', 'an IPv6 zone names a local interface');
    literal = parseIp(hostText);
    if (literal?.family !== 6) throw refuse('malformed', `[${hostText}] is not an IPv6 address`);
    if (isMappedIpv4(literal)) throw refuse('mapped-address', `[${hostText}] is an IPv4-mapped IPv6 address; write the IPv4 address`);
  }
  if (portText !== null && !(DECIMAL_PORT.test(portText) && Number(portText) <= 65535)) {
    throw refuse('malformed', `port '${portText}' is not a decimal number from 1 to 65535 without leading zeros`);
  }

  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new UrlRefusedError('malformed', display, 'not a valid URL', { cause: error });
  }
  // Defensive: the raw authority held no `@`, so the parser found no user information either.
  if (url.username !== '' || url.password !== '') throw refuse('credentials', 'no credentials in URLs');

  // What the parser made of the host must be what was written.
  const parsedHost = url.hostname;
  if (bracketed) {
    const reparsed = parsedHost.startsWith('[') ? parseIp(parsedHost.slice(1, -1)) : null;
    if (reparsed === null || literal === null || reparsed.text !== literal.text)
      throw refuse('malformed', `the host [${hostText}] does not parse consistently`);
  } else if (parseIp(parsedHost)?.family === 4) {
    // IPv4 is accepted only as four decimal parts without leading zeros, exactly as written.
    if (hostText !== parsedHost) throw refuse('numeric-host-form', `the host '${hostText}' is an unusual spelling of ${parsedHost}; write ${parsedHost}`);
    literal = parseIp(parsedHost);
  } else if (hostText.toLowerCase() !== parsedHost && !isUnicodeSpellingOf(hostText, parsedHost)) {
    throw refuse('malformed', `the host '${hostText}' is not written as the name it stands for (${parsedHost})`);
  }
  const hostname = literal?.text ?? parsedHost;
  const name = literal === null ? normaliseHostName(parsedHost) : literal.text;

  // Host lists: a non-empty allowed list wins over the disallowed list.
  let hostAllowListed = false;
  if (settings.allowedHosts.length > 0) {
    if (!hostInList(settings.allowedHosts, { name, address: literal })) throw refuse('host-denied', `host '${hostname}' is not in allowed_hosts`);
    hostAllowListed = true;
  } else if (hostInList(settings.disallowedHosts, { name, address: literal })) {
    throw refuse('host-denied', `host '${hostname}' is in disallowed_hosts`);
  }

  // Port lists, only for a port the URL spells out (reference §9.5: `http://host/x` passes with any list).
  const explicitPort = portText !== null;
  const port = explicitPort ? Number(portText) : DEFAULT_PORTS[scheme];
  if (explicitPort) {
    if (settings.allowedPorts.length > 0) {
      if (!settings.allowedPorts.includes(port)) throw refuse('port', `port ${port} is not in allowed_ports`);
    } else if (settings.disallowedPorts.includes(port)) {
      throw refuse('port', `port ${port} is in disallowed_ports`);
    }
  }

  // The address classes: a literal now; a name after resolution (the fetcher), except the names
  // RFC 6761 reserves for loopback, which no resolver should be trusted to answer.
  const subject = { hostname, hostAllowListed, display };
  if (literal !== null) checkAddress(literal, subject, settings, 'literal');
  else if (!hostAllowListed && (name === 'localhost' || name.endsWith('.localhost'))) {
    throw refuse('loopback', `'${hostname}' is a loopback name (RFC 6761), allowed only when named in allowed_hosts`);
  }

  return {
    href: url.href,
    scheme,
    hostname,
    host: url.host,
    port,
    explicitPort,
    path: `${url.pathname}${url.search}`,
    address: literal,
    hostAllowListed,
    display,
  };
}

function checkScheme(scheme: string, settings: UrlFilterSettings, refuse: (rule: 'scheme', detail: string) => UrlRefusedError): void {
  const inList = (list: readonly string[]): boolean => list.some((entry) => entry.trim().toLowerCase() === scheme);
  if (settings.allowedSchemes.length > 0) {
    if (!inList(settings.allowedSchemes)) throw refuse('scheme', `scheme '${scheme}' is not in allowed_schemes`);
  } else if (inList(settings.disallowedSchemes)) {
    throw refuse('scheme', `scheme '${scheme}' is in disallowed_schemes`);
  }
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`, split as written (no user information by now). */
function splitAuthority(
  authority: string,
  refuse: (rule: 'malformed', detail: string) => UrlRefusedError,
): { hostText: string; portText: string | null; bracketed: boolean } {
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw refuse('malformed', 'an IPv6 host is missing its closing bracket');
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw refuse('malformed', 'unexpected text after the IPv6 host');
    return { hostText: authority.slice(1, close), portText: after === '' ? null : after.slice(1), bracketed: true };
  }
  const colon = authority.indexOf(':');
  if (colon < 0) return { hostText: authority, portText: null, bracketed: false };
  return { hostText: authority.slice(0, colon), portText: authority.slice(colon + 1), bracketed: false };
}

/** An internationalised name: the parser's punycode is what IDNA makes of what was written. */
function isUnicodeSpellingOf(hostText: string, parsedHost: string): boolean {
  return /[^\x20-\x7e]/.test(hostText) && domainToASCII(hostText) === parsedHost;
}
