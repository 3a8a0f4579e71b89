// Entries of an MCP server's sandbox.network: a host pattern, or an address or CIDR block with an
// optional port. What each reads as, and the one sentence a wrong one gets.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNetworkEntry } from '../src/network-entry.js';

const read = (text: string): string => {
  const r = parseNetworkEntry(text);
  if ('error' in r) return `${r.error.code}: ${r.error.message}`;
  const e = r.entry;
  return e.kind === 'host'
    ? `host ${e.pattern}`
    : `address ${e.cidr}${e.port === undefined ? '' : ` port ${e.port}`}`;
};

test('host patterns, with or without their own port, are hosts', () => {
  assert.equal(read('registry.npmjs.org'), 'host registry.npmjs.org');
  assert.equal(read('*.example.com'), 'host *.example.com');
  assert.equal(read('db.example.com:5432'), 'host db.example.com:5432');
  assert.equal(read('1password.com'), 'host 1password.com');
});

test('addresses and blocks, IPv4 and IPv6, with a port where they name one', () => {
  assert.equal(read('10.0.0.5'), 'address 10.0.0.5');
  assert.equal(read('10.0.0.0/8'), 'address 10.0.0.0/8');
  assert.equal(read('10.0.0.5:5432'), 'address 10.0.0.5 port 5432');
  assert.equal(read('10.0.0.0/8:5432'), 'address 10.0.0.0/8 port 5432');
  assert.equal(read('192.0.2.1:8000-8999'), 'address 192.0.2.1 port 8000-8999');
  assert.equal(read('192.0.2.1:*'), 'address 192.0.2.1 port *');
  assert.equal(read('fd00::/8'), 'address fd00::/8');
  assert.equal(read('[fd00::1]'), 'address fd00::1');
  assert.equal(read('[fd00::1]:6379'), 'address fd00::1 port 6379');
  // Without brackets, the last group of an IPv6 address is the address's own.
  assert.equal(read('fd00::1:6379'), 'address fd00::1:6379');
});

test('a wrong entry says what is wrong with it', () => {
  assert.equal(read('10.0.0.1/8'), 'bad-cidr: "10.0.0.1/8" is not a valid IP address or CIDR block');
  const bitsSet = parseNetworkEntry('10.0.0.1/8');
  assert.ok('error' in bitsSet && /clear the host bits/.test(bitsSet.error.hint ?? ''));
  assert.equal(
    read('10.0.0.5:0'),
    'bad-port: bad port on "10.0.0.5:0": "0" is not a port, a range like 8000-8999, or "*"',
  );
  assert.equal(read('300.1.1.1'), 'bad-cidr: "300.1.1.1" is not a valid IP address or CIDR block');
  const badBlock = parseNetworkEntry('[fd00::1/200]:1');
  assert.ok(
    'error' in badBlock && /\[fd00::1\]:5432/.test(badBlock.error.hint ?? ''),
    'the hint shows a port',
  );
  assert.equal(read('exa mple.com').split(':')[0], 'bad-host-pattern');
});
