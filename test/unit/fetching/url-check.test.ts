import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UrlRefusedError, type UrlRule } from '../../../src/fetching/fetch-errors.js';
import { checkUrl } from '../../../src/fetching/url-check.js';
import { DEFAULT_URL_FILTER_SETTINGS, type UrlFilterSettings } from '../../../src/fetching/url-filter-settings.js';

const settingsWith = (overrides: Partial<UrlFilterSettings>): UrlFilterSettings => ({ ...DEFAULT_URL_FILTER_SETTINGS, ...overrides });

interface HostileCase {
  readonly url: string;
  readonly rule: UrlRule;
  readonly settings?: UrlFilterSettings;
  readonly why?: string;
}

// Every URL here must be refused with exactly this rule under the given (default) settings.
const HOSTILE: readonly HostileCase[] = [
  // Loopback, in every notation a parser might accept.
  { url: 'http://127.0.0.1/', rule: 'loopback' },
  { url: 'http://127.255.255.254/x', rule: 'loopback' },
  { url: 'http://127.1/', rule: 'numeric-host-form' },
  { url: 'http://127.0.1/', rule: 'numeric-host-form' },
  { url: 'http://2130706433/', rule: 'numeric-host-form' },
  { url: 'http://0x7f000001/', rule: 'numeric-host-form' },
  { url: 'http://0x7f.1/', rule: 'numeric-host-form' },
  { url: 'http://0X7F.0.0.1/', rule: 'numeric-host-form' },
  { url: 'http://0177.0.0.1/', rule: 'numeric-host-form' },
  { url: 'http://017700000001/', rule: 'numeric-host-form' },
  { url: 'http://127.0.0.1./', rule: 'numeric-host-form', why: 'a final dot on an IPv4 address' },
  { url: 'http://127.0.0.%31/', rule: 'numeric-host-form', why: 'percent-encoded digit' },
  { url: 'http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/', rule: 'numeric-host-form', why: 'full-width digits' },
  { url: 'http://[::1]/', rule: 'loopback' },
  { url: 'http://[0:0:0:0:0:0:0:1]/', rule: 'loopback' },
  { url: 'http://[::ffff:127.0.0.1]/', rule: 'mapped-address' },
  { url: 'http://[::ffff:7f00:1]/', rule: 'mapped-address' },
  { url: 'http://[::ffff:10.0.0.1]/', rule: 'mapped-address', why: 'mapped form refused whatever it embeds' },
  { url: 'http://[64:ff9b::7f00:1]/', rule: 'loopback', why: 'NAT64, classified by the embedded IPv4' },
  { url: 'http://[2002:7f00:1::]/', rule: 'loopback', why: '6to4, classified by the embedded IPv4' },
  { url: 'http://[::127.0.0.1]/', rule: 'reserved', why: 'deprecated IPv4-compatible form' },
  { url: 'http://localhost/', rule: 'loopback', why: 'RFC 6761 name, no DNS needed' },
  { url: 'http://LOCALHOST./', rule: 'loopback' },
  { url: 'http://api.localhost/', rule: 'loopback' },
  // Link-local and the metadata services.
  { url: 'http://169.254.169.254/latest/meta-data/', rule: 'link-local' },
  { url: 'http://169.254.0.1/', rule: 'link-local' },
  { url: 'http://[fe80::1]/', rule: 'link-local' },
  { url: 'http://[fe80::1%25eth0]/', rule: 'zone-id' },
  { url: 'http://[fd00:ec2::254]/latest/meta-data/', rule: 'metadata' },
  { url: 'http://100.100.100.200/latest/meta-data/', rule: 'reserved', why: 'shared address space (Alibaba metadata)' },
  // Unspecified, multicast, broadcast, reserved.
  { url: 'http://0.0.0.0/', rule: 'unspecified' },
  { url: 'http://0/', rule: 'numeric-host-form' },
  { url: 'http://[::]/', rule: 'unspecified' },
  { url: 'http://224.0.0.1/', rule: 'multicast' },
  { url: 'http://[ff02::1]/', rule: 'multicast' },
  { url: 'http://255.255.255.255/', rule: 'broadcast' },
  { url: 'http://240.0.0.1/', rule: 'reserved' },
  { url: 'http://192.0.2.10/', rule: 'reserved' },
  { url: 'http://198.18.0.1/', rule: 'reserved' },
  { url: 'http://203.0.113.5/', rule: 'reserved' },
  { url: 'http://[2001:db8::1]/', rule: 'reserved' },
  // Credentials, in every place they hide.
  { url: 'http://user@example.com/', rule: 'credentials' },
  { url: 'http://user:hunter2@example.com/', rule: 'credentials' },
  { url: 'http://:@example.com/', rule: 'credentials' },
  { url: 'http://example.com:80@127.0.0.1/', rule: 'credentials' },
  { url: 'https://a@b@example.com/', rule: 'credentials' },
  // Schemes.
  { url: 'ftp://example.com/image.qcow2', rule: 'scheme' },
  { url: 'file:///etc/passwd', rule: 'scheme' },
  { url: 'gopher://example.com:70/_GET%20/', rule: 'scheme' },
  { url: 'javascript:alert(1)', rule: 'scheme' },
  { url: 'data:text/plain,hello', rule: 'scheme' },
  { url: 'ftp://user:pw@127.0.0.1:21/', rule: 'scheme', why: 'the scheme is checked first' },
  {
    url: 'ftp://example.com/',
    rule: 'scheme',
    settings: settingsWith({ allowedSchemes: ['http', 'https', 'ftp'] }),
    why: 'allowed by the list, but not fetchable',
  },
  { url: 'http://example.com/', rule: 'scheme', settings: settingsWith({ allowedSchemes: [], disallowedSchemes: ['HTTP'] }) },
  // Ports.
  { url: 'http://example.com:8080/', rule: 'port' },
  { url: 'http://example.com:22/', rule: 'port' },
  { url: 'http://127.0.0.1:8080/', rule: 'port', why: 'the port is checked before the address class' },
  { url: 'http://example.com:22/', rule: 'port', settings: settingsWith({ allowedPorts: [], disallowedPorts: [22] }) },
  { url: 'https://example.com:0443/', rule: 'malformed', why: 'leading zero in the port' },
  { url: 'http://example.com:/', rule: 'malformed', why: 'empty port' },
  { url: 'http://example.com:0/', rule: 'malformed' },
  { url: 'http://example.com:65536/', rule: 'malformed' },
  // Hosts.
  { url: 'http://other.example/', rule: 'host-denied', settings: settingsWith({ allowedHosts: ['mirror.example'] }) },
  { url: 'http://EVIL.example./', rule: 'host-denied', settings: settingsWith({ disallowedHosts: ['evil.example'] }), why: 'case and final dot' },
  { url: 'http://10.0.0.5/', rule: 'host-denied', settings: settingsWith({ disallowedHosts: ['10.0.0.5'] }) },
  { url: 'http://[0::1]/', rule: 'host-denied', settings: settingsWith({ disallowedHosts: ['[::1]'] }) },
  { url: 'http://169.254.169.254/', rule: 'host-denied', settings: settingsWith({ allowedHosts: ['127.0.0.1'] }) },
  // Shapes other parsers read differently.
  { url: 'http:example.com/', rule: 'malformed' },
  { url: 'http:/example.com/', rule: 'malformed' },
  { url: 'http:///example.com/', rule: 'malformed' },
  { url: 'http://', rule: 'malformed' },
  { url: 'http://:80/', rule: 'malformed' },
  { url: 'http://example.com\\@127.0.0.1/', rule: 'malformed' },
  { url: 'http:\\\\127.0.0.1/', rule: 'malformed' },
  { url: 'http://exa mple.com/', rule: 'malformed' },
  { url: ' http://example.com/', rule: 'malformed' },
  { url: 'http://example.com/\n', rule: 'malformed' },
  { url: 'http://example.com/\u0000', rule: 'malformed' },
  { url: 'http://exam\u200bple.com/', rule: 'malformed', why: 'zero-width space' },
  { url: 'http://exa%6dple.com/', rule: 'malformed', why: 'percent-encoded host' },
  { url: 'http://[::1/', rule: 'malformed' },
  { url: 'http://[127.0.0.1]/', rule: 'malformed' },
  { url: 'http://foo.0x10/', rule: 'malformed' },
  { url: 'http://1.2.3.4.5/', rule: 'malformed' },
  { url: 'not a url', rule: 'malformed' },
  { url: '//example.com/', rule: 'malformed' },
  { url: `http://example.com/${'a'.repeat(9000)}`, rule: 'malformed' },
];

describe('checkUrl refuses hostile URLs with the exact rule', () => {
  it('has a table of at least 40 cases', () => {
    assert.ok(HOSTILE.length >= 40);
  });
  for (const { url, rule, settings, why } of HOSTILE) {
    const label = `${JSON.stringify(url.length > 80 ? `${url.slice(0, 80)}…` : url)} → ${rule}${why === undefined ? '' : ` (${why})`}`;
    it(label, () => {
      assert.throws(
        () => checkUrl(url, settings ?? DEFAULT_URL_FILTER_SETTINGS),
        (error: unknown) => {
          assert.ok(error instanceof UrlRefusedError, String(error));
          assert.equal(error.rule, rule, error.message);
          assert.ok(error.message.includes(`'${rule}'`), 'the message names the rule');
          return true;
        },
      );
    });
  }
});

describe('checkUrl messages', () => {
  it('name the URL but never its password', () => {
    for (const url of [
      'http://user:hunter2@example.com/',
      'http://us%3Aer:hunter2@example.com/x',
      'http:hunter2@example.com',
      'ftp://u:hunter2@example.com/',
    ]) {
      assert.throws(
        () => checkUrl(url, DEFAULT_URL_FILTER_SETTINGS),
        (error: unknown) =>
          error instanceof UrlRefusedError && !error.message.includes('hunter2') && !error.url.includes('hunter2') && error.message.includes('example.com'),
      );
    }
  });

  it('mask query values, which may be signatures', () => {
    assert.throws(
      () => checkUrl('http://swift.example:8080/v1/AUTH_x/c/o?temp_url_sig=da39a3ee&temp_url_expires=1700000000', DEFAULT_URL_FILTER_SETTINGS),
      (error: unknown) =>
        error instanceof UrlRefusedError &&
        error.url === 'http://swift.example:8080/v1/AUTH_x/c/o?temp_url_sig=***&temp_url_expires=***' &&
        !error.message.includes('da39a3ee'),
    );
  });

  it('escape control characters and cut long URLs', () => {
    assert.throws(
      () => checkUrl('http://example.com/\r\nX-Injected: 1', DEFAULT_URL_FILTER_SETTINGS),
      (error: unknown) => error instanceof UrlRefusedError && !/[\r\n]/.test(error.message) && error.message.includes('\\u{d}\\u{a}'),
    );
    assert.throws(
      () => checkUrl(`http://example.com/${'a'.repeat(9000)}`, DEFAULT_URL_FILTER_SETTINGS),
      (error: unknown) => error instanceof UrlRefusedError && error.message.length < 1000,
    );
  });
});

describe('checkUrl accepts', () => {
  const accepted: readonly { url: string; settings?: UrlFilterSettings; hostname: string; port: number; allowListed?: boolean }[] = [
    { url: 'http://example.com/image.qcow2', hostname: 'example.com', port: 80 },
    { url: 'HTTPS://Example.COM/Image?x=1#frag', hostname: 'example.com', port: 443 },
    { url: 'http://example.com:443/', hostname: 'example.com', port: 443 },
    { url: 'http://10.1.2.3/mirror/cirros.img', hostname: '10.1.2.3', port: 80 },
    { url: 'http://172.16.0.1/', hostname: '172.16.0.1', port: 80 },
    { url: 'http://192.168.1.20/', hostname: '192.168.1.20', port: 80 },
    { url: 'http://[fd12:3456::1]/', hostname: 'fd12:3456::1', port: 80 },
    { url: 'http://[2001:4860:4860::8888]/', hostname: '2001:4860:4860::8888', port: 80 },
    { url: 'http://8.8.8.8/', hostname: '8.8.8.8', port: 80 },
    { url: 'http://b\u00fccher.example/', hostname: 'xn--bcher-kva.example', port: 80 },
    { url: 'http://example.com/', hostname: 'example.com', port: 80, settings: settingsWith({ allowedSchemes: [], disallowedSchemes: ['https'] }) },
    {
      url: 'http://127.0.0.1:8080/',
      hostname: '127.0.0.1',
      port: 8080,
      allowListed: true,
      settings: settingsWith({ allowedHosts: ['127.0.0.1'], allowedPorts: [8080] }),
    },
    { url: 'http://[0:0::1]/', hostname: '::1', port: 80, allowListed: true, settings: settingsWith({ allowedHosts: ['[::1]'] }) },
    { url: 'http://LocalHost/', hostname: 'localhost', port: 80, allowListed: true, settings: settingsWith({ allowedHosts: ['localhost'] }) },
    { url: 'http://169.254.169.254/', hostname: '169.254.169.254', port: 80, allowListed: true, settings: settingsWith({ allowedHosts: ['169.254.169.254'] }) },
    {
      url: 'http://a.example/',
      hostname: 'a.example',
      port: 80,
      allowListed: true,
      settings: settingsWith({ allowedHosts: ['a.example'], disallowedHosts: ['a.example'] }),
    },
    { url: 'http://example.com:8080/', hostname: 'example.com', port: 8080, settings: settingsWith({ allowedPorts: [], disallowedPorts: [22] }) },
    { url: 'http://example.com:8080/', hostname: 'example.com', port: 8080, settings: settingsWith({ allowedPorts: [8080], disallowedPorts: [8080] }) },
  ];
  for (const { url, settings, hostname, port, allowListed } of accepted) {
    it(url, () => {
      const checked = checkUrl(url, settings ?? DEFAULT_URL_FILTER_SETTINGS);
      assert.equal(checked.hostname, hostname);
      assert.equal(checked.port, port);
      assert.equal(checked.hostAllowListed, allowListed ?? false);
    });
  }

  it('reports the normalised parts a request needs', () => {
    const checked = checkUrl('https://Mirror.Example:443/a/b%20c?x=1#frag', DEFAULT_URL_FILTER_SETTINGS);
    assert.deepEqual(
      { href: checked.href, scheme: checked.scheme, host: checked.host, path: checked.path, explicitPort: checked.explicitPort, address: checked.address },
      { href: 'https://mirror.example/a/b%20c?x=1#frag', scheme: 'https', host: 'mirror.example', path: '/a/b%20c?x=1', explicitPort: true, address: null },
    );
    const literal = checkUrl('http://[2001:4860::8888]:80/', DEFAULT_URL_FILTER_SETTINGS);
    assert.equal(literal.address?.text, '2001:4860::8888');
    assert.equal(literal.host, '[2001:4860::8888]');
  });
});
