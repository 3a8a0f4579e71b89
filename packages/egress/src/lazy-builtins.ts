// Node modules the proxy loads on first use: every `perimeter run` evaluates the CLI before its
// sandbox starts, and these are several milliseconds of that. HTTP is first needed when the
// proxy is created, which `perimeter run` does while bubblewrap sets the sandbox up; DNS, TLS
// (inspection) and zlib (compressed bodies) only for some connections. (The bundler does not
// follow this require.)

import { createRequire } from 'node:module';
import type * as Dns from 'node:dns/promises';
import type * as Http from 'node:http';
import type * as Tls from 'node:tls';
import type * as Zlib from 'node:zlib';

const load = createRequire(import.meta.url);
let dnsModule: typeof Dns | undefined;
let httpModule: typeof Http | undefined;
let tlsModule: typeof Tls | undefined;
let zlibModule: typeof Zlib | undefined;

export function dns(): typeof Dns {
  return (dnsModule ??= load('node:dns/promises') as typeof Dns);
}

export function http(): typeof Http {
  return (httpModule ??= load('node:http') as typeof Http);
}

export function tls(): typeof Tls {
  return (tlsModule ??= load('node:tls') as typeof Tls);
}

export function zlib(): typeof Zlib {
  return (zlibModule ??= load('node:zlib') as typeof Zlib);
}
