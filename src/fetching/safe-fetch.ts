/**
 * The hardened fetcher web-download (and glance-download) use for URLs users name
 * (reference §9.5). Upstream Glance checks the URL text once and then lets urllib resolve,
 * connect and follow redirects unchecked; here every hop is checked the same way before any
 * byte is sent:
 *
 * 1. `checkUrl`: scheme, host and port lists, the spelling of the URL, a literal IP's class;
 * 2. the name is resolved once, and every address it resolves to must pass the address rules —
 *    one forbidden address refuses the URL (a name that also points at loopback or the metadata
 *    service is not one we guess around, and a later connection could pick that address);
 * 3. the connection goes to a checked address only (`pinned-request.ts`);
 * 4. a redirect's Location is resolved against the current URL and goes through 1–3 again, up
 *    to `maxRedirects` redirects;
 * 5. only a 2xx answer is read, through `GuardedBody` (size limit, Content-Length, stalls).
 *
 * Two more refusals beyond the reference, both about redirects: https → http is refused unless
 * allowed (a network attacker could otherwise swap the image), and caller headers (glance-download's
 * token) go only to the first URL's origin, never to where a redirect points elsewhere.
 */
import { lookup } from 'node:dns/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { checkAddress } from './address-policy.js';
import { FetchError, UrlRefusedError } from './fetch-errors.js';
import { GuardedBody } from './guarded-body.js';
import { parseIp, type IpAddress } from './ip-address.js';
import { requestPinned, type TrustedCa } from './pinned-request.js';
import { checkUrl, type CheckedUrl } from './url-check.js';
import type { UrlFilterSettings } from './url-filter-settings.js';

export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

/** Resolves a host name to every address it has (like `dns.promises.lookup(name, { all: true })`). */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export interface SafeFetcherOptions {
  readonly settings: UrlFilterSettings;
  /** Defaults to the system resolver (`dns.promises.lookup`, all addresses). */
  readonly resolve?: Resolver;
  /** For resolving a name, and for connecting (with TLS) to one address. */
  readonly connectTimeoutMs: number;
  /** How long the server may send nothing while we wait for the response head or for body bytes. */
  readonly stallTimeoutMs: number;
  /** Redirects followed before refusing with 'redirect-limit'; default 5. */
  readonly maxRedirects?: number;
  /** The most body bytes accepted (image_size_cap, the staging quota). */
  readonly maxBytes: number;
  /** Follow a redirect from https to http; default false. */
  readonly allowHttpsToHttpRedirect?: boolean;
  /** Certificates to trust instead of Node's bundled CAs, for https. */
  readonly ca?: TrustedCa;
}

export interface OpenOptions {
  /** Extra request headers, sent only to the origin of the URL given to `open`. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface FetchedBody {
  /** The final URL, after redirects. */
  readonly url: string;
  readonly status: number;
  /** The announced length, or null when the response has none. */
  readonly contentLength: number | null;
  readonly headers: Readonly<IncomingHttpHeaders>;
  /** The body, at most `maxBytes`, exactly Content-Length; fails with FetchError. */
  readonly body: Readable;
}

export const DEFAULT_MAX_REDIRECTS = 5;

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true });

export class SafeFetcher {
  readonly #settings: UrlFilterSettings;
  readonly #resolve: Resolver;
  readonly #connectTimeoutMs: number;
  readonly #stallTimeoutMs: number;
  readonly #maxRedirects: number;
  readonly #maxBytes: number;
  readonly #allowHttpsToHttp: boolean;
  readonly #ca: TrustedCa | undefined;

  constructor(options: SafeFetcherOptions) {
    const positive = (name: string, value: number): number => {
      if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, not ${value}`);
      return value;
    };
    this.#settings = options.settings;
    this.#resolve = options.resolve ?? systemResolver;
    this.#connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs);
    this.#stallTimeoutMs = positive('stallTimeoutMs', options.stallTimeoutMs);
    this.#maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    if (!(Number.isInteger(this.#maxRedirects) && this.#maxRedirects >= 0))
      throw new RangeError(`maxRedirects must be a whole number, not ${this.#maxRedirects}`);
    this.#maxBytes = options.maxBytes;
    if (!(this.#maxBytes >= 0)) throw new RangeError(`maxBytes must not be negative, not ${this.#maxBytes}`);
    this.#allowHttpsToHttp = options.allowHttpsToHttpRedirect ?? false;
    this.#ca = options.ca;
  }

  /**
   * Fetches `url` (GET), following redirects; resolves once a 2xx response head arrived, with its
   * body still to read. Rejects with UrlRefusedError (nothing was sent to the refused URL) or
   * FetchError. Aborting `signal` destroys the request, before or after this resolves. The caller
   * reads the body to its end or destroys it; either releases the connection.
   */
  async open(url: string, signal: AbortSignal, options: OpenOptions = {}): Promise<FetchedBody> {
    const first = checkUrl(url, this.#settings);
    let current = first;
    for (let redirects = 0; ; redirects++) {
      const addresses = await this.#resolveChecked(current, signal);
      const headers = sameOrigin(current, first) ? (options.headers ?? {}) : {};
      const { request, response } = await requestPinned({
        target: current,
        addresses,
        headers,
        connectTimeoutMs: this.#connectTimeoutMs,
        stallTimeoutMs: this.#stallTimeoutMs,
        signal,
        ca: this.#ca,
      });
      const status = response.statusCode ?? 0;

      if (REDIRECT_STATUSES.has(status)) {
        // Nothing of a redirect's body is wanted; the connection is not reused either.
        response.destroy();
        request.destroy();
        const location = response.headers.location;
        if (location === undefined || location === '') throw new FetchError('bad-redirect', current.display, `HTTP ${status} without a Location header`);
        if (redirects >= this.#maxRedirects) {
          throw new UrlRefusedError('redirect-limit', first.display, `more than ${this.#maxRedirects} redirects (the last one came from ${current.display})`);
        }
        const next = checkUrl(resolveLocation(location, current), this.#settings);
        if (current.scheme === 'https' && next.scheme === 'http' && !this.#allowHttpsToHttp) {
          throw new UrlRefusedError('scheme', next.display, `a redirect from https to http (from ${current.display})`);
        }
        current = next;
        continue;
      }

      if (status < 200 || status > 299) {
        response.destroy();
        request.destroy();
        const text = response.statusMessage === undefined || response.statusMessage === '' ? '' : ` ${response.statusMessage}`;
        throw new FetchError('status', current.display, `the server answered HTTP ${status}${text}`, { status });
      }

      const contentLength = parseContentLength(response.headers['content-length']);
      if (contentLength !== null && contentLength > this.#maxBytes) {
        response.destroy();
        request.destroy();
        throw new FetchError('too-large', current.display, `Content-Length ${contentLength} is larger than the limit of ${this.#maxBytes} bytes`);
      }
      const body = new GuardedBody({
        request,
        response,
        display: current.display,
        contentLength,
        maxBytes: this.#maxBytes,
        stallTimeoutMs: this.#stallTimeoutMs,
        signal,
      });
      return { url: current.href, status, contentLength, headers: response.headers, body };
    }
  }

  /** The addresses to connect to: the literal, or every address of the name, all checked. */
  async #resolveChecked(target: CheckedUrl, signal: AbortSignal): Promise<readonly IpAddress[]> {
    if (target.address !== null) return [target.address];
    let answers: readonly ResolvedAddress[];
    try {
      answers = await withDeadline(this.#resolve(target.hostname), signal, this.#connectTimeoutMs, target.display);
    } catch (error) {
      if (error instanceof FetchError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new UrlRefusedError('resolution', target.display, `'${target.hostname}' does not resolve (${message})`, { cause: error });
    }
    const addresses: IpAddress[] = [];
    for (const answer of answers) {
      const address = parseIp(answer.address);
      if (address === null)
        throw new UrlRefusedError('resolution', target.display, `'${target.hostname}' resolved to '${answer.address}', which is not an address`);
      checkAddress(address, target, this.#settings, 'resolved');
      if (!addresses.some((known) => known.text === address.text)) addresses.push(address);
    }
    if (addresses.length === 0) throw new UrlRefusedError('resolution', target.display, `'${target.hostname}' resolves to no address`);
    return addresses;
  }
}

/**
 * A Location as a URL for `checkUrl`. An absolute or scheme-relative Location is checked as the
 * server wrote it, so a redirect gets the same spelling checks as a user's URL; only a path is
 * resolved against the current URL (keeping its already checked host).
 */
function resolveLocation(location: string, current: CheckedUrl): string {
  if (SCHEME.test(location)) return location;
  if (location.startsWith('//')) return `${current.scheme}:${location}`;
  // `\` would turn a path into a host for the WHATWG parser; leave it for checkUrl to refuse.
  if (/[\\\p{Cc}\p{Cf}\p{Z}]/u.test(location)) return location;
  try {
    return new URL(location, current.href).href;
  } catch {
    return location; // checkUrl refuses it, naming what is wrong
  }
}

function sameOrigin(a: CheckedUrl, b: CheckedUrl): boolean {
  return a.scheme === b.scheme && a.hostname === b.hostname && a.port === b.port;
}

function parseContentLength(value: string | undefined): number | null {
  // Node's HTTP parser already refused a malformed or conflicting Content-Length.
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}

/** The promise's outcome, unless the signal aborts first (FetchError 'aborted') or it takes too long (a plain Error). */
function withDeadline<T>(promise: Promise<T>, signal: AbortSignal, timeoutMs: number, display: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      done();
      reject(new FetchError('aborted', display, 'the fetch was aborted', { cause: signal.reason }));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
