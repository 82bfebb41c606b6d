// The fetcher against real loopback servers. Nothing here may send a byte off this host: every
// case that names a non-loopback address must be refused before connecting, and the tests check
// that through the rule of the refusal (address rules run before any connection).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { FetchError, UrlRefusedError, type FetchFailureReason, type UrlRule } from '../../../src/fetching/fetch-errors.js';
import { SafeFetcher, type Resolver, type SafeFetcherOptions } from '../../../src/fetching/safe-fetch.js';
import { DEFAULT_URL_FILTER_SETTINGS, type UrlFilterSettings } from '../../../src/fetching/url-filter-settings.js';

const PAYLOAD = randomBytes(1024 * 1024 + 17);
const BIG_SIZE = 32 * 1024 * 1024;

/** A loopback server that counts the connections it accepted. */
interface CountingServer {
  readonly server: Server;
  readonly port: number;
  connections: number;
  readonly paths: string[];
}

async function listen(server: Server): Promise<CountingServer> {
  const counting: CountingServer = { server, port: 0, connections: 0, paths: [] };
  server.on('connection', () => counting.connections++);
  server.on('request', (request: IncomingMessage) => counting.paths.push(request.url ?? ''));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(counting, { port: (server.address() as AddressInfo).port });
}

async function close(counting: CountingServer | undefined): Promise<void> {
  if (counting === undefined) return;
  counting.server.closeAllConnections();
  await new Promise<void>((resolve) => counting.server.close(() => resolve()));
}

let bigWritten = 0;

/** The allowed server: every behaviour a test needs, by path. */
function handle(request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'http://placeholder');
  const path = url.pathname;
  const redirect = (status: number, location: string): void => {
    response.writeHead(status, { location, 'content-length': '0' }).end();
  };
  if (path === '/bytes') {
    response.writeHead(200, { 'content-length': String(PAYLOAD.length), 'content-type': 'application/octet-stream' }).end(PAYLOAD);
  } else if (path.startsWith('/chunked/')) {
    response.writeHead(200); // no Content-Length: chunked
    response.end(PAYLOAD.subarray(0, Number(path.slice('/chunked/'.length))));
  } else if (path === '/redirect') {
    redirect(Number(url.searchParams.get('status') ?? '302'), url.searchParams.get('to') ?? '/');
  } else if (path.startsWith('/loop/')) {
    const hop = Number(path.slice('/loop/'.length));
    if (hop < Number(url.searchParams.get('until'))) redirect(302, `/loop/${hop + 1}?until=${url.searchParams.get('until') ?? ''}`);
    else response.end('done');
  } else if (path === '/chain') {
    redirect(301, 'hop2');
  } else if (path === '/hop2') {
    redirect(307, `http://127.0.0.1:${String(request.socket.localPort)}/bytes`);
  } else if (path === '/no-location') {
    response.writeHead(302).end();
  } else if (path === '/headers') {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(request.headers));
  } else if (path === '/short') {
    response.writeHead(200, { 'content-length': '1000' });
    response.write(PAYLOAD.subarray(0, 500), () => setTimeout(() => request.socket.destroy(), 20));
  } else if (path === '/chunked-cut') {
    response.writeHead(200);
    response.write(PAYLOAD.subarray(0, 500), () => setTimeout(() => request.socket.destroy(), 20));
  } else if (path === '/stall-head') {
    // Never answers.
  } else if (path === '/stall-body') {
    response.writeHead(200, { 'content-length': '1000' });
    response.write(PAYLOAD.subarray(0, 100));
  } else if (path === '/trickle') {
    response.writeHead(200);
    const timer = setInterval(() => response.write('x'), 20);
    response.on('close', () => clearInterval(timer));
  } else if (path === '/big') {
    response.writeHead(200, { 'content-length': String(BIG_SIZE) });
    bigWritten = 0;
    const chunk = Buffer.alloc(64 * 1024, 7);
    const pump = (): void => {
      while (bigWritten < BIG_SIZE) {
        bigWritten += chunk.length;
        const more = response.write(chunk);
        if (bigWritten >= BIG_SIZE) break;
        if (!more) {
          response.once('drain', pump);
          return;
        }
      }
      response.end();
    };
    pump();
  } else if (path.startsWith('/status/')) {
    response.writeHead(Number(path.slice('/status/'.length))).end('nope');
  } else {
    response.writeHead(404).end();
  }
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function refused(rule: UrlRule): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof UrlRefusedError, `expected UrlRefusedError '${rule}', got ${String(error)}`);
    assert.equal(error.rule, rule, error.message);
    return true;
  };
}

function failed(reason: FetchFailureReason): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof FetchError, `expected FetchError '${reason}', got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    return true;
  };
}

/** A resolver from a fixed table; it counts its calls, and throws for names it does not know. */
function tableResolver(table: Record<string, readonly string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = (hostname: string) => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (addresses === undefined) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
  return Object.assign(resolve, { calls });
}

const never = new AbortController().signal;

describe('SafeFetcher', () => {
  let allowed: CountingServer | undefined;
  let forbidden: CountingServer | undefined;
  let A = 0;
  let B = 0;
  let settings: UrlFilterSettings = DEFAULT_URL_FILTER_SETTINGS;
  const resolver = tableResolver({
    'mirror.test': ['127.0.0.1'],
    'evil.test': ['127.0.0.1'],
    'fallback.test': ['127.0.0.2', '127.0.0.1'],
    'mixed-public-first.test': ['93.184.216.34', '127.0.0.1'],
    'mixed-loopback-first.test': ['127.0.0.1', '93.184.216.34'],
    'metadata.test': ['169.254.169.254'],
    'mapped.test': ['::ffff:127.0.0.1'],
    'internal.test': ['10.9.9.9'],
    'empty.test': [],
    'garbage.test': ['not-an-address'],
  });
  const fetcher = (overrides: Partial<SafeFetcherOptions> = {}): SafeFetcher =>
    new SafeFetcher({ settings, resolve: resolver, connectTimeoutMs: 2000, stallTimeoutMs: 2000, maxBytes: 64 * 1024 * 1024, ...overrides });
  const open = (url: string, overrides: Partial<SafeFetcherOptions> = {}, signal = never) => fetcher(overrides).open(url, signal);

  before(async () => {
    allowed = await listen(createHttpServer(handle));
    forbidden = await listen(createHttpServer((_request, response) => response.end('you should not be here')));
    A = allowed.port;
    B = forbidden.port;
    settings = { ...DEFAULT_URL_FILTER_SETTINGS, allowedHosts: ['127.0.0.1', 'mirror.test', 'fallback.test'], allowedPorts: [A] };
  });
  after(async () => {
    await close(allowed);
    await close(forbidden);
  });

  describe('fetching', () => {
    it('streams the exact bytes of an allowed URL', async () => {
      const fetched = await open(`http://127.0.0.1:${A}/bytes`);
      assert.equal(fetched.status, 200);
      assert.equal(fetched.contentLength, PAYLOAD.length);
      assert.equal(fetched.url, `http://127.0.0.1:${A}/bytes`);
      assert.ok((await readAll(fetched.body)).equals(PAYLOAD));
    });

    it('streams a chunked body of exactly maxBytes', async () => {
      const fetched = await open(`http://127.0.0.1:${A}/chunked/1000`, { maxBytes: 1000 });
      assert.equal(fetched.contentLength, null);
      assert.ok((await readAll(fetched.body)).equals(PAYLOAD.subarray(0, 1000)));
    });

    it('resolves a name once and connects to that address, keeping the name in the Host header', async () => {
      const before = resolver.calls.length;
      const fetched = await open(`http://mirror.test:${A}/headers`);
      const headers = JSON.parse((await readAll(fetched.body)).toString()) as Record<string, string>;
      assert.equal(headers.host, `mirror.test:${A}`);
      assert.equal(headers['accept-encoding'], 'identity');
      assert.deepEqual(resolver.calls.slice(before), ['mirror.test']);
    });

    it('tries the next checked address when one refuses the connection', async () => {
      const fetched = await open(`http://fallback.test:${A}/bytes`);
      assert.ok((await readAll(fetched.body)).equals(PAYLOAD));
    });

    it('uses the system resolver by default (localhost, when allow-listed)', async () => {
      const localSettings = { ...settings, allowedHosts: ['localhost'] };
      const fetched = await new SafeFetcher({ settings: localSettings, connectTimeoutMs: 2000, stallTimeoutMs: 2000, maxBytes: PAYLOAD.length }).open(
        `http://localhost:${A}/bytes`,
        never,
      );
      assert.ok((await readAll(fetched.body)).equals(PAYLOAD));
    });

    it('follows relative and absolute redirects, and reports the final URL', async () => {
      const fetched = await open(`http://127.0.0.1:${A}/chain`);
      assert.equal(fetched.url, `http://127.0.0.1:${A}/bytes`);
      assert.ok((await readAll(fetched.body)).equals(PAYLOAD));
    });

    it('follows exactly maxRedirects redirects', async () => {
      const fetched = await open(`http://127.0.0.1:${A}/loop/0?until=3`, { maxRedirects: 3 });
      assert.equal((await readAll(fetched.body)).toString(), 'done');
      assert.equal(fetched.url, `http://127.0.0.1:${A}/loop/3?until=3`);
    });

    it('sends caller headers to the first origin only, never to where a redirect points elsewhere', async () => {
      const token = { 'x-auth-token': 'secret-token' };
      const same = await fetcher().open(`http://127.0.0.1:${A}/headers`, never, { headers: token });
      assert.equal((JSON.parse((await readAll(same.body)).toString()) as Record<string, string>)['x-auth-token'], 'secret-token');
      const elsewhere = `http://mirror.test:${A}/headers`;
      const moved = await fetcher().open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent(elsewhere)}`, never, { headers: token });
      assert.equal(moved.url, elsewhere);
      assert.equal((JSON.parse((await readAll(moved.body)).toString()) as Record<string, string>)['x-auth-token'], undefined);
    });

    it('passes backpressure to the socket, and a slow reader is not a stall', async () => {
      const fetched = await open(`http://127.0.0.1:${A}/big`, { stallTimeoutMs: 150 });
      // Read one chunk, then stop reading for longer than the stall timeout.
      const first = await new Promise<Buffer>((resolve) =>
        fetched.body.once('data', (chunk: Buffer) => {
          fetched.body.pause();
          resolve(chunk);
        }),
      );
      await sleep(500);
      // The server is held back by full socket buffers, not by a body buffered in memory.
      assert.ok(fetched.body.readableLength <= 2 * 1024 * 1024, `${fetched.body.readableLength} bytes buffered while nobody read`);
      assert.ok(bigWritten < BIG_SIZE / 2, `the server wrote ${bigWritten} bytes while nobody read`);
      const hash = createHash('sha256').update(first);
      let length = first.length;
      for await (const chunk of fetched.body) {
        hash.update(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      assert.equal(length, BIG_SIZE);
      assert.equal(hash.digest('hex'), createHash('sha256').update(Buffer.alloc(BIG_SIZE, 7)).digest('hex'));
    });
  });

  describe('refusing before connecting', () => {
    it('a name resolving to loopback, with 127.0.0.1 not allowed: no connection is opened', async () => {
      const strict = { ...DEFAULT_URL_FILTER_SETTINGS, allowedPorts: [B] };
      await assert.rejects(open(`http://evil.test:${B}/`, { settings: strict }), refused('loopback'));
      await assert.rejects(open(`http://mapped.test:${B}/`, { settings: strict }), refused('loopback'));
      assert.equal(forbidden?.connections, 0);
    });

    it('a resolver answer mixing a public and a loopback address, in either order', async () => {
      const strict = { ...DEFAULT_URL_FILTER_SETTINGS, allowedPorts: [B] };
      await assert.rejects(open(`http://mixed-public-first.test:${B}/`, { settings: strict }), refused('loopback'));
      await assert.rejects(open(`http://mixed-loopback-first.test:${B}/`, { settings: strict }), refused('loopback'));
      assert.equal(forbidden?.connections, 0);
    });

    it('a name resolving to the metadata service', async () => {
      await assert.rejects(open('http://metadata.test/latest/meta-data/', { settings: DEFAULT_URL_FILTER_SETTINGS }), refused('link-local'));
    });

    it('a resolved address in disallowed_hosts', async () => {
      const denying = { ...DEFAULT_URL_FILTER_SETTINGS, disallowedHosts: ['10.9.9.9'] };
      await assert.rejects(open('http://internal.test/', { settings: denying }), refused('host-denied'));
    });

    it('names that do not resolve to addresses', async () => {
      const open80 = (host: string) => open(`http://${host}/`, { settings: DEFAULT_URL_FILTER_SETTINGS });
      await assert.rejects(open80('unknown.test'), refused('resolution'));
      await assert.rejects(open80('empty.test'), refused('resolution'));
      await assert.rejects(open80('garbage.test'), refused('resolution'));
      const hanging: Resolver = () => new Promise(() => undefined);
      await assert.rejects(
        open('http://slow.test/', { settings: DEFAULT_URL_FILTER_SETTINGS, resolve: hanging, connectTimeoutMs: 100 }),
        refused('resolution'),
      );
    });

    it('a redirect to a port that is not allowed: the target is never connected', async () => {
      await assert.rejects(open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${B}/`)}`), refused('port'));
      await assert.rejects(open(`http://127.0.0.1:${A}/redirect?status=308&to=${encodeURIComponent(`//127.0.0.1:${B}/`)}`), refused('port'));
      assert.equal(forbidden?.connections, 0);
    });

    it('a redirect to a host that is not allowed', async () => {
      await assert.rejects(open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent(`http://localhost:${A}/bytes`)}`), refused('host-denied'));
      // evil.test resolves to the allowed 127.0.0.1, but allowed_hosts lists names, not what they resolve to.
      await assert.rejects(open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent(`http://evil.test:${A}/bytes`)}`), refused('host-denied'));
    });

    it('a redirect to 169.254.169.254, before connecting', async () => {
      // With allowed_hosts set (the loopback server needs it), the metadata address fails the host
      // list first; without it, the link-local rule refuses it (url-check tests).
      await assert.rejects(
        open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`, { connectTimeoutMs: 100 }),
        refused('host-denied'),
      );
      const onlyPort = { ...settings, allowedHosts: [], disallowedHosts: ['192.0.2.1'] };
      await assert.rejects(open(`http://127.0.0.1:${A}/bytes`, { settings: onlyPort }), refused('loopback'));
    });

    it('a redirect whose Location is spelled to fool a parser', async () => {
      await assert.rejects(open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent(`http://0x7f.1:${A}/bytes`)}`), refused('numeric-host-form'));
      await assert.rejects(open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent('/\\mirror.test/')}`), refused('malformed'));
      await assert.rejects(open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent(`http://u:p@127.0.0.1:${A}/`)}`), refused('credentials'));
      await assert.rejects(open(`http://127.0.0.1:${A}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`), refused('scheme'));
    });

    it('too many redirects', async () => {
      const before = allowed?.paths.length ?? 0;
      await assert.rejects(open(`http://127.0.0.1:${A}/loop/0?until=10`, { maxRedirects: 3 }), refused('redirect-limit'));
      assert.equal((allowed?.paths.length ?? 0) - before, 4, 'the first request and three redirects');
      await assert.rejects(open(`http://127.0.0.1:${A}/loop/0?until=10`, { maxRedirects: 0 }), refused('redirect-limit'));
    });
  });

  describe('failing while fetching', () => {
    it('a non-2xx final answer, naming the status', async () => {
      await assert.rejects(open(`http://127.0.0.1:${A}/status/404`), (error: unknown) => {
        assert.ok(failed('status')(error) && error instanceof FetchError);
        assert.equal(error.status, 404);
        assert.match(error.message, /HTTP 404 Not Found/);
        return true;
      });
      await assert.rejects(open(`http://127.0.0.1:${A}/status/304`), failed('status'));
      await assert.rejects(open(`http://127.0.0.1:${A}/no-location`), failed('bad-redirect'));
    });

    it('a Content-Length over maxBytes, before reading', async () => {
      await assert.rejects(open(`http://127.0.0.1:${A}/bytes`, { maxBytes: 1000 }), failed('too-large'));
    });

    it('a chunked body over maxBytes, without handing on the excess', async () => {
      const fetched = await open(`http://127.0.0.1:${A}/chunked/500000`, { maxBytes: 1000 });
      let delivered = 0;
      await assert.rejects(async () => {
        for await (const chunk of fetched.body) delivered += (chunk as Buffer).length;
      }, failed('too-large'));
      assert.ok(delivered <= 1000, `${delivered} bytes delivered`);
    });

    it('fewer bytes than Content-Length announced', async () => {
      const fetched = await open(`http://127.0.0.1:${A}/short`);
      assert.equal(fetched.contentLength, 1000);
      await assert.rejects(readAll(fetched.body), failed('length-mismatch'));
    });

    it('a chunked body cut short', async () => {
      const fetched = await open(`http://127.0.0.1:${A}/chunked-cut`);
      await assert.rejects(readAll(fetched.body), failed('truncated'));
    });

    it('a server that never answers, or stops sending', async () => {
      await assert.rejects(open(`http://127.0.0.1:${A}/stall-head`, { stallTimeoutMs: 150 }), failed('stall'));
      const fetched = await open(`http://127.0.0.1:${A}/stall-body`, { stallTimeoutMs: 150 });
      await assert.rejects(readAll(fetched.body), failed('stall'));
    });

    it('the abort signal, before, while waiting for the answer, and while reading', async () => {
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(open(`http://127.0.0.1:${A}/bytes`, {}, aborted.signal), failed('aborted'));
      await assert.rejects(open(`http://mirror.test:${A}/bytes`, {}, aborted.signal), failed('aborted'));

      const waiting = new AbortController();
      setTimeout(() => waiting.abort(), 50);
      await assert.rejects(open(`http://127.0.0.1:${A}/stall-head`, {}, waiting.signal), failed('aborted'));

      const reading = new AbortController();
      const fetched = await open(`http://127.0.0.1:${A}/trickle`, {}, reading.signal);
      const closed = new Promise<void>((resolve) => fetched.body.once('close', resolve));
      await assert.rejects(async () => {
        for await (const chunk of fetched.body) {
          assert.ok((chunk as Buffer).length > 0);
          reading.abort();
        }
      }, failed('aborted'));
      await closed;
    });
  });
});

// https: a certificate for glimpse.test only, made with the openssl CLI when it is there.
const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('SafeFetcher over https', { skip: hasOpenssl ? false : 'no openssl to make a test certificate' }, () => {
  let secure: CountingServer | undefined;
  let plain: CountingServer | undefined;
  let cert = '';
  const servernames: (string | false | null)[] = [];
  const resolver = tableResolver({ 'glimpse.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'] });
  let settings: UrlFilterSettings = DEFAULT_URL_FILTER_SETTINGS;
  const open = (url: string, overrides: Partial<SafeFetcherOptions> = {}) =>
    new SafeFetcher({ settings, resolve: resolver, ca: cert, connectTimeoutMs: 2000, stallTimeoutMs: 2000, maxBytes: PAYLOAD.length, ...overrides }).open(
      url,
      never,
    );

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glimpse-fetch-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '2',
          '-subj',
          '/CN=glimpse.test',
          '-addext',
          'subjectAltName=DNS:glimpse.test',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
      const key = readFileSync(join(dir, 'key.pem'), 'utf8');
      const server = createHttpsServer({ key, cert }, (request, response) => {
        servernames.push(request.socket instanceof TLSSocket ? request.socket.servername : null);
        const plainPort = plain?.port ?? 0;
        if (request.url === '/down') response.writeHead(302, { location: `http://127.0.0.1:${plainPort}/` }).end();
        else response.end(PAYLOAD);
      });
      secure = await listen(server);
      plain = await listen(createHttpServer((_request, response) => response.end('plain')));
      settings = { ...DEFAULT_URL_FILTER_SETTINGS, allowedHosts: ['glimpse.test', 'other.test', '127.0.0.1'], allowedPorts: [secure.port, plain.port] };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  after(async () => {
    await close(secure);
    await close(plain);
  });

  it('connects to the pinned address and checks the certificate against the name, sent as SNI', async () => {
    const fetched = await open(`https://glimpse.test:${secure?.port ?? 0}/image`);
    assert.ok((await readAll(fetched.body)).equals(PAYLOAD));
    assert.equal(servernames.at(-1), 'glimpse.test');
  });

  it('refuses a certificate for another name, or one it does not trust', async () => {
    await assert.rejects(open(`https://other.test:${secure?.port ?? 0}/image`), failed('tls'));
    await assert.rejects(open(`https://glimpse.test:${secure?.port ?? 0}/image`, { ca: undefined }), failed('tls'));
  });

  it('refuses a redirect from https to http unless allowed', async () => {
    const before = plain?.connections ?? 0;
    await assert.rejects(open(`https://glimpse.test:${secure?.port ?? 0}/down`), refused('scheme'));
    assert.equal(plain?.connections, before);
    const fetched = await open(`https://glimpse.test:${secure?.port ?? 0}/down`, { allowHttpsToHttpRedirect: true });
    assert.equal((await readAll(fetched.body)).toString(), 'plain');
  });
});
