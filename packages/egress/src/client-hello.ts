// Reading the server name (SNI) from a TLS ClientHello, without terminating TLS (RFC 8446 §4.1.2,
// RFC 6066 §3). Pure. Used to refuse a tunnel whose TLS names another host than the CONNECT did
// (domain fronting: research egress-proto-02).

export type HelloResult =
  | { readonly kind: 'incomplete' } // wait for more bytes
  | { readonly kind: 'not-tls' }
  | { readonly kind: 'hello'; readonly serverName?: string }
  | { readonly kind: 'malformed' };

/** The largest ClientHello record we wait for. */
export const MAX_HELLO_BYTES = 16 * 1024 + 5;

export function readClientHello(bytes: Uint8Array): HelloResult {
  if (bytes.length < 1) return { kind: 'incomplete' };
  if (bytes[0] !== 0x16) return { kind: 'not-tls' };
  if (bytes.length < 5) return { kind: 'incomplete' };
  const recordLength = ((bytes[3] ?? 0) << 8) | (bytes[4] ?? 0);
  if (recordLength > MAX_HELLO_BYTES - 5) return { kind: 'malformed' };
  if (bytes.length < 5 + recordLength) return { kind: 'incomplete' };
  const view = bytes.subarray(5, 5 + recordLength);
  let at = 0;
  const need = (n: number): boolean => at + n <= view.length;
  const u8 = (): number => view[at++] ?? 0;
  const u16 = (): number => (u8() << 8) | u8();
  if (!need(4) || u8() !== 0x01) return { kind: 'malformed' }; // handshake type: client_hello
  at += 3; // handshake length
  if (!need(2 + 32 + 1)) return { kind: 'malformed' };
  at += 2 + 32; // legacy_version, random
  const sessionLength = u8();
  at += sessionLength;
  if (!need(2)) return { kind: 'malformed' };
  const suitesLength = u16();
  at += suitesLength;
  if (!need(1)) return { kind: 'malformed' };
  const compressionLength = u8();
  at += compressionLength;
  if (at === view.length) return { kind: 'hello' }; // no extensions, so no SNI
  if (!need(2)) return { kind: 'malformed' };
  const extensionsEnd = at + 2 + u16();
  if (extensionsEnd > view.length) return { kind: 'malformed' };
  let serverName: string | undefined;
  while (at + 4 <= extensionsEnd) {
    const type = u16();
    const length = u16();
    const end = at + length;
    if (end > extensionsEnd) return { kind: 'malformed' };
    if (type === 0x0000) {
      if (serverName !== undefined) return { kind: 'malformed' }; // two SNI extensions
      const listEnd = at + 2 + u16();
      while (at + 3 <= listEnd && at + 3 <= end) {
        const nameType = u8();
        const nameLength = u16();
        if (at + nameLength > end) return { kind: 'malformed' };
        if (nameType === 0x00) {
          if (serverName !== undefined) return { kind: 'malformed' };
          serverName = Buffer.from(view.subarray(at, at + nameLength)).toString('latin1');
        }
        at += nameLength;
      }
    }
    at = end;
  }
  return serverName === undefined ? { kind: 'hello' } : { kind: 'hello', serverName };
}
