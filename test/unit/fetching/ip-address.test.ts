import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyIp, parseIp, sameIp, unmapIp, type AddressKind } from '../../../src/fetching/ip-address.js';

const parse = (text: string) => {
  const address = parseIp(text);
  assert.ok(address, text);
  return address;
};

describe('parseIp', () => {
  it('accepts only what node:net calls an address, and writes it canonically', () => {
    assert.equal(parse('10.0.0.1').text, '10.0.0.1');
    assert.equal(parse('0:0:0:0:0:0:0:1').text, '::1');
    assert.equal(parse('2001:DB8:0:0:1:0:0:1').text, '2001:db8::1:0:0:1');
    assert.equal(parse('::ffff:127.0.0.1').text, '::ffff:7f00:1');
    assert.equal(parse('fe80::1%eth0').zone, 'eth0');
    for (const odd of ['127.1', '0x7f000001', '2130706433', '0177.0.0.1', '1.2.3.256', '', 'example.com', '[::1]', '1::2::3']) {
      assert.equal(parseIp(odd), null, odd);
    }
  });

  it('compares a mapped address equal to its IPv4 address', () => {
    assert.equal(unmapIp(parse('::ffff:10.1.2.3')).text, '10.1.2.3');
    assert.ok(sameIp(parse('::ffff:10.1.2.3'), parse('10.1.2.3')));
    assert.ok(!sameIp(parse('10.1.2.3'), parse('10.1.2.4')));
  });
});

describe('classifyIp', () => {
  const table: readonly [string, AddressKind][] = [
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['10.255.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.0.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['0.1.2.3', 'unspecified'],
    ['100.64.0.1', 'reserved'],
    ['100.128.0.1', 'public'],
    ['192.0.0.8', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.20.0.1', 'public'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['64:ff9b:1::1', 'reserved'],
    ['2002:a9fe:a9fe::1', 'link-local'],
    ['2002:808:808::1', 'public'],
    ['2001::1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001:4860:4860::8888', 'public'],
    ['fd00:ec2::254', 'metadata'],
    ['fd00:ec2::253', 'private'],
    ['fc00::1', 'private'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'reserved'],
    ['ff02::1', 'multicast'],
    ['4000::1', 'reserved'],
  ];
  for (const [text, kind] of table) {
    it(`${text} is ${kind}`, () => assert.equal(classifyIp(parse(text)).kind, kind));
  }

  it('says which IPv4 address decided for an embedding address', () => {
    const classification = classifyIp(parse('64:ff9b::7f00:1'));
    assert.equal(classification.embedded?.text, '127.0.0.1');
    assert.equal(classification.range, '127.0.0.0/8');
  });
});
