/**
 * URLs as they may appear in messages and logs. A refused URL can carry a password (that is one
 * reason it is refused) or control characters (a forged log line), so messages show this instead
 * of the raw text. Query values are masked too: image URLs are often signed (Swift temp URLs,
 * S3 presigned URLs), and the signature is a credential for as long as it is valid.
 */
const MAX_SHOWN = 512;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Z}]/gu;

/**
 * Masks everything up to the last `@` of the authority, escapes unprintable characters, and cuts
 * long URLs. Generous on purpose: an `@` later in the path may mask more than the user
 * information, which costs a less readable message, never a leaked secret.
 */
export function displayUrl(raw: string): string {
  const scheme = SCHEME.exec(raw)?.[0].length ?? 0;
  let start = scheme;
  while (raw[start] === '/' || raw[start] === '\\') start++;
  const queryOrFragment = raw.slice(start).search(/[?#]/);
  const end = queryOrFragment < 0 ? raw.length : start + queryOrFragment;
  const at = raw.lastIndexOf('@', end - 1);
  const masked = at >= start ? `${raw.slice(0, start)}***${raw.slice(at)}` : raw;
  return displayCleanUrl(masked);
}

/** For a URL known to hold no user information: query values masked, unprintable characters escaped, long URLs cut. */
export function displayCleanUrl(raw: string): string {
  const escaped = maskQueryValues(raw).replace(UNPRINTABLE, (char) => `\\u{${(char.codePointAt(0) ?? 0).toString(16)}}`);
  return escaped.length > MAX_SHOWN ? `${escaped.slice(0, MAX_SHOWN)}…` : escaped;
}

/** `?a=1&b=2#f` → `?a=***&b=***#f`: the names say what the URL is, the values may be secrets. */
function maskQueryValues(url: string): string {
  const query = url.indexOf('?');
  if (query < 0) return url;
  const fragment = url.indexOf('#', query);
  const end = fragment < 0 ? url.length : fragment;
  const masked = url
    .slice(query + 1, end)
    .split('&')
    .map((pair) => (pair.includes('=') ? `${pair.slice(0, pair.indexOf('='))}=***` : pair === '' ? pair : '***'))
    .join('&');
  return `${url.slice(0, query + 1)}${masked}${url.slice(end)}`;
}
