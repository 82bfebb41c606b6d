/**
 * Typed failures of fetching a URL someone else named. Two kinds, because callers answer them
 * differently: a refused URL is the user's fault and known before any byte leaves this host
 * (web-download answers it with 400, reference §9.3 step 10), while a failed fetch happened on the
 * wire and ends the import task (reference §9.5, last point).
 */

/** The rule a refused URL broke. Stable: logs, tests and error mapping key on it. */
export type UrlRule =
  /** Not a URL we parse the same way every other parser would: bad characters, shape, port, host spelling. */
  | 'malformed'
  /** The scheme is not allowed by the lists, or is not http/https, or a redirect went from https to http. */
  | 'scheme'
  /** The URL carries a user name or password. */
  | 'credentials'
  /** An IPv4 host spelled other than as four decimal parts (`127.1`, `0x7f.1`, `2130706433`, ...). */
  | 'numeric-host-form'
  /** An IPv4-mapped IPv6 literal (`[::ffff:127.0.0.1]`): write the IPv4 address instead. */
  | 'mapped-address'
  /** An IPv6 literal with a zone (`[fe80::1%25eth0]`): it names a local interface. */
  | 'zone-id'
  /** The host is not in allowed_hosts, or is in disallowed_hosts (by name or resolved address). */
  | 'host-denied'
  /** The URL's explicit port is not allowed by the lists. */
  | 'port'
  | 'loopback'
  | 'link-local'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  /** Special-purpose ranges: documentation, benchmarking, shared (CGNAT), future use, unassigned. */
  | 'reserved'
  /** A cloud metadata service address outside the link-local range (AWS's fd00:ec2::254). */
  | 'metadata'
  /** More redirects than the fetcher follows. */
  | 'redirect-limit'
  /** The name did not resolve, or resolved to something that is not an address. */
  | 'resolution';

export class UrlRefusedError extends Error {
  readonly rule: UrlRule;
  /** The URL as it is safe to show: user information masked, control characters escaped, long URLs cut. */
  readonly url: string;

  constructor(rule: UrlRule, url: string, detail: string, options?: { cause?: unknown }) {
    super(`URL refused (rule '${rule}'): ${detail}: ${url}`, options);
    this.name = new.target.name;
    this.rule = rule;
    this.url = url;
  }
}

/** Why a fetch of an accepted URL failed. */
export type FetchFailureReason =
  /** The final answer was not 2xx. */
  | 'status'
  /** More bytes than allowed, announced by Content-Length or counted while reading. */
  | 'too-large'
  /** The connection ended before the Content-Length the server announced. */
  | 'length-mismatch'
  /** A body without Content-Length ended without its proper end (a chunked body cut short). */
  | 'truncated'
  /** No connection (and TLS handshake) within the connect timeout. */
  | 'connect-timeout'
  /** The server sent nothing for the stall timeout while we were waiting for bytes. */
  | 'stall'
  /** The caller's signal aborted the fetch. */
  | 'aborted'
  /** The TLS handshake failed: certificate, name, protocol. */
  | 'tls'
  /** A redirect without a Location header. */
  | 'bad-redirect'
  /** The connection failed or broke, or the server's answer was not valid HTTP. */
  | 'network';

export class FetchError extends Error {
  readonly reason: FetchFailureReason;
  /** The URL being fetched when it failed, safe to show (see UrlRefusedError.url). */
  readonly url: string;
  /** The HTTP status for reason 'status', otherwise null. */
  readonly status: number | null;

  constructor(reason: FetchFailureReason, url: string, detail: string, options?: { cause?: unknown; status?: number }) {
    super(`fetch failed (${reason}): ${detail}: ${url}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = reason;
    this.url = url;
    this.status = options?.status ?? null;
  }
}
