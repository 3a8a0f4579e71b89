// HTTP request paths, canonical: what network rules with `paths` are matched against. Pure. The
// egress proxy forwards exactly the path it judged, so both must read it the same way.

import { hasControlCharacter } from './host.js';

/**
 * HTTP path → canonical segments: query dropped, `;parameters` dropped, unreserved escapes
 * decoded, dot segments resolved; an encoded control character makes the path invalid. An encoded slash or backslash (`%2F`, `%5C`) is read as a separator, since many
 * servers decode it before routing: `/repos/acme/x%2F..%2F..%2Fother` is judged as `/repos/other`.
 */
export function canonicalHttpPath(path: string): string[] | undefined {
  if (!path.startsWith('/') || hasControlCharacter(path)) return undefined;
  if (!/[%?#;\\]|\/\/|\/\.\.?(\/|$)/.test(path)) {
    const plain = path.slice(1).split('/');
    if (plain[plain.length - 1] === '') plain.pop();
    return plain;
  }
  const cut = path.search(/[?#]/);
  const raw = (cut >= 0 ? path.slice(0, cut) : path).replace(/%2f|%5c|\\/gi, '/');
  const out: string[] = [];
  for (const part of raw.split('/')) {
    // Path parameters (`/admin;jsessionid=x`) are dropped by many servers before routing.
    const bare = part.includes(';') ? part.slice(0, part.indexOf(';')) : part;
    let isControl = false;
    const seg = bare.replace(/%([0-9a-fA-F]{2})/g, (m, hex: string) => {
      const code = parseInt(hex, 16);
      if (code < 0x20 || code === 0x7f) isControl = true;
      const ch = String.fromCharCode(code);
      return /[A-Za-z0-9\-._~]/.test(ch) ? ch : m.toUpperCase();
    });
    if (isControl) return undefined;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out;
}
