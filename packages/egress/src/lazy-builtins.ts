// Node modules the proxy needs only for some connections (TLS inspection, compressed bodies),
// loaded on first use: every `perimeter run` evaluates the CLI before its sandbox starts, and
// these two are a few milliseconds of that. (The bundler does not follow this require.)

import { createRequire } from 'node:module';
import type * as Tls from 'node:tls';
import type * as Zlib from 'node:zlib';

const load = createRequire(import.meta.url);
let tlsModule: typeof Tls | undefined;
let zlibModule: typeof Zlib | undefined;

export function tls(): typeof Tls {
  return (tlsModule ??= load('node:tls') as typeof Tls);
}

export function zlib(): typeof Zlib {
  return (zlibModule ??= load('node:zlib') as typeof Zlib);
}
