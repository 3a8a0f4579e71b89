// SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), CONNECT only. The target
// (IPv4, IPv6 or a domain name) goes through the same admission as HTTP and CONNECT: the same
// canonical parser, the same decision, the same vetted address. Denials are SOCKS reply codes;
// an authentication failure is an audited `unauthenticated` denial, as a 407 is (redteam-13).

import { createServer, type Server, type Socket } from 'node:net';
import type { NetworkRequest } from '@perimeter/policy';
import { createAdmitter } from './admit.js';
import { holdConnection, openTunnel } from './tunnel.js';
import { isToken } from './token.js';
import { refusalAuditFor, tunnelDepsOf, type EgressOptions } from './proxy.js';
import { auditedTarget } from './http-message.js';

/** RFC 1928 §6 reply codes. */
const REPLY = {
  ok: 0x00,
  failure: 0x01,
  notAllowed: 0x02,
  hostUnreachable: 0x04,
  refused: 0x05,
  commandNotSupported: 0x07,
  addressNotSupported: 0x08,
} as const;

const HANDSHAKE_LIMIT_MS = 10_000;

/** Reads exactly n bytes from a socket as they arrive; fails on its end or close, or after the time limit. */
class ByteReader {
  private buffer = Buffer.alloc(0);
  private waiting: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  /** No more bytes will come: the client ended its side, or the socket closed. */
  private isOver = false;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      if (this.buffer.length > 1024) socket.destroy(); // a SOCKS handshake is a few hundred bytes
      this.settle();
    });
    // Half-open (the server is): the client's end means no more bytes, as a close does.
    for (const event of ['end', 'close'])
      socket.on(event, () => {
        this.isOver = true;
        this.settle();
      });
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting = { n, resolve, reject };
      this.settle();
    });
  }

  /** Whatever arrived after the handshake (sent early by the client), for the tunnel. */
  rest(): Buffer {
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    this.socket.removeAllListeners('data');
    return rest;
  }

  private settle(): void {
    const w = this.waiting;
    if (!w) return;
    if (this.buffer.length >= w.n) {
      const out = this.buffer.subarray(0, w.n);
      this.buffer = this.buffer.subarray(w.n);
      this.waiting = undefined;
      w.resolve(out);
    } else if (this.isOver) {
      this.waiting = undefined;
      w.reject(new Error('closed'));
    }
  }
}

function reply(socket: Socket, code: number): void {
  socket.write(Buffer.from([0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

export function createSocksProxy(options: EgressOptions): Server {
  const refusals = refusalAuditFor(options);
  const admit = createAdmitter(options, refusals);
  const tunnelDeps = tunnelDepsOf(options);
  // Before the request there is no target: the front door stands for it. Never the password.
  const refuseHandshake = (
    code: 'invalid-request' | 'unauthenticated',
    why: string,
    target = 'socks5',
  ): void => {
    refusals.refuse(code, 'connect', target, why);
  };

  async function handshake(client: Socket): Promise<void> {
    const reader = new ByteReader(client);
    const timer = setTimeout(() => client.destroy(), HANDSHAKE_LIMIT_MS);
    let release = (): void => undefined;
    try {
      const [version, count] = await reader.read(2);
      if (version !== 0x05) {
        // SOCKS4 and anything else: not spoken here (SOCKS4 has no reply a client would read as why).
        refuseHandshake(
          'invalid-request',
          `the client spoke SOCKS version ${version ?? '?'}; only SOCKS5 is spoken here`,
        );
        return void client.destroy();
      }
      const methods = await reader.read(count ?? 0);
      const wanted = options.token === undefined ? 0x00 : 0x02;
      if (!methods.includes(wanted)) {
        if (wanted === 0x02)
          refuseHandshake(
            'unauthenticated',
            'the SOCKS5 client offered no username/password authentication, which carries the session token',
          );
        else refuseHandshake('invalid-request', 'the SOCKS5 client did not offer "no authentication"');
        client.end(Buffer.from([0x05, 0xff]));
        return;
      }
      client.write(Buffer.from([0x05, wanted]));
      if (wanted === 0x02) {
        const [, userLength] = await reader.read(2);
        await reader.read(userLength ?? 0);
        const [passLength] = await reader.read(1);
        const password = (await reader.read(passLength ?? 0)).toString('utf8');
        if (!isToken(password, options.token ?? '')) {
          refuseHandshake('unauthenticated', 'the SOCKS5 password is not the session token');
          client.end(Buffer.from([0x01, 0x01]));
          return;
        }
        client.write(Buffer.from([0x01, 0x00]));
      }
      const [, command, , addressType] = await reader.read(4);
      let host: string;
      if (addressType === 0x01) host = Array.from(await reader.read(4)).join('.');
      else if (addressType === 0x04) host = `[${ipv6Text(await reader.read(16))}]`;
      else if (addressType === 0x03) {
        const [length] = await reader.read(1);
        // Bytes as received: a NUL or any other control character makes the canonical parser refuse it.
        host = (await reader.read(length ?? 0)).toString('latin1');
      } else {
        refuseHandshake(
          'invalid-request',
          `the SOCKS5 address type ${addressType ?? '?'} is not one the proxy reads`,
        );
        reply(client, REPLY.addressNotSupported);
        client.end();
        return;
      }
      const port = (await reader.read(2)).readUInt16BE(0);
      if (command !== 0x01) {
        // BIND and UDP ASSOCIATE would open paths the policy does not describe (egress-proto-10).
        refuseHandshake(
          'invalid-request',
          `the SOCKS5 command ${command === 0x02 ? 'BIND' : command === 0x03 ? 'UDP ASSOCIATE' : (command ?? '?')} is not supported: only CONNECT`,
          auditedTarget(`${host}:${port}`).shown,
        );
        reply(client, REPLY.commandNotSupported);
        client.end();
        return;
      }
      clearTimeout(timer);
      const request: NetworkRequest = { surface: 'network', host, port };
      // In flight from here: the decision lands, then the tunnel holds its own count.
      release = holdConnection(options.connections);
      const { decision, address } = await admit(request);
      if (address === undefined) {
        reply(client, REPLY.notAllowed);
        client.end();
        return;
      }
      openTunnel(
        {
          client,
          host,
          resource: decision.resource,
          address,
          port,
          early: reader.rest(),
          onOpen: () => reply(client, REPLY.ok),
          onFail: () => {
            reply(client, REPLY.hostUnreachable);
            client.end();
          },
        },
        tunnelDeps,
      );
    } catch {
      client.destroy();
    } finally {
      clearTimeout(timer);
      release();
    }
  }

  // Half-open: a client that ends its side first still gets the rest of what the upstream sends
  // (and the other way round, with the upstream's socket: see directDial).
  const server = createServer({ allowHalfOpen: true }, (client) => {
    client.on('error', () => client.destroy());
    void handshake(client);
  });
  server.maxConnections = options.maxConnections ?? 512;
  return server;
}
