// perimeter login --server URL: enrols this device with a control plane through the OAuth 2.0
// device authorization grant (RFC 8628). Shows a code and where to enter it; the invited user
// approves there with their invitation token; the command, polling at the server's interval (5 s
// more after each slow_down), then gets the device credential, keeps it 0600 in the state
// directory, pins the organisation's signing keys, and fetches the first bundle.

import { hostname } from 'node:os';
import type { KeySet, PublishedKey } from '@perimeter/server';
import { parseArgs, stringFlag } from '../args.js';
import { thumbprint } from '../device/bundle-verify.js';
import { call, errorMessage, ServerUnreachable, serverUrl } from '../device/control-plane.js';
import {
  clearDevice,
  deviceDir,
  writeEnrolment,
  writeTrustedKeys,
  type Enrolment,
} from '../device/device-state.js';
import { syncOnce } from '../device/sync.js';
import { UserError } from '../errors.js';
import { stateDir } from '../secret-store.js';
import type { Ui } from '../ui.js';
import { join } from 'node:path';

/** The client id `perimeter login` names itself with (RFC 8628 §3.1). */
const CLIENT_ID = 'perimeter-cli';
const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

interface DeviceCode {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
}

interface Token {
  access_token: string;
  device: { id: string; name: string };
  user: { id: string; email: string };
  org: { id: string; slug: string; name: string };
  keys: KeySet;
}

const form = (fields: Record<string, string>): { headers: Record<string, string>; body: string } => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
  body: new URLSearchParams(fields).toString(),
});

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UserError(`the server's ${what} is not JSON`, 'check that --server is a Perimeter server');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runLogin(argv: readonly string[], ui: Ui): Promise<number> {
  const p = parseArgs(argv, { server: { type: 'string' }, name: { type: 'string' } }, 'login');
  if (p.positionals.length > 0)
    throw new UserError(
      `perimeter login takes no arguments, but got "${p.positionals[0] ?? ''}"`,
      'run "perimeter login --help"',
    );
  const given = stringFlag(p, 'server');
  if (given === undefined)
    throw new UserError(
      'perimeter login needs --server URL',
      'for example: perimeter login --server https://perimeter.example.com',
    );
  const server = serverUrl(given, '--server', 'the device credential');
  const name = stringFlag(p, 'name') ?? hostname();

  let start;
  try {
    start = await call(`${server}/api/v1/oauth/device_authorization`, {
      method: 'POST',
      ...form({ client_id: CLIENT_ID, device_name: name.slice(0, 100) }),
      timeoutMs: 15_000,
    });
  } catch (e) {
    if (e instanceof ServerUnreachable) throw new UserError(`${e.message}`, `check --server ${given}`, 1);
    throw e;
  }
  if (start.status !== 200)
    throw new UserError(
      `the server refused to start a login (${errorMessage(start)})`,
      start.status === 429
        ? 'too many logins are waiting for approval on that server: try again in a minute, or ask its admin'
        : `check that ${server} is a Perimeter server`,
      1,
    );
  const code = parseJson<DeviceCode>(start.text, 'answer');
  ui.out('To log this device in, open');
  ui.out(`  ${code.verification_uri_complete ?? code.verification_uri}`);
  ui.out(
    `and enter your invitation token (or go to ${code.verification_uri} and enter the code ${code.user_code}).`,
  );
  ui.out('Waiting for approval…');

  // RFC 8628 §3.5: wait the interval between polls; slow_down adds 5 s for good.
  let interval = Math.max(1, code.interval ?? 5);
  const deadline = Date.now() + code.expires_in * 1000;
  let token: Token | undefined;
  while (token === undefined) {
    await sleep(interval * 1000);
    if (Date.now() > deadline + interval * 1000)
      throw new UserError('the login code expired before it was approved', 'run perimeter login again', 1);
    let answer;
    try {
      answer = await call(`${server}/api/v1/oauth/token`, {
        method: 'POST',
        ...form({ grant_type: GRANT, device_code: code.device_code, client_id: CLIENT_ID }),
        timeoutMs: 15_000,
      });
    } catch (e) {
      if (e instanceof ServerUnreachable) continue; // a blip: ask again at the next interval
      throw e;
    }
    if (answer.status === 200) {
      token = parseJson<Token>(answer.text, 'token');
      break;
    }
    const error = parseJson<{ error?: string }>(answer.text, 'answer').error;
    switch (error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        interval += 5;
        continue;
      case 'expired_token':
        throw new UserError('the login code expired before it was approved', 'run perimeter login again', 1);
      case 'access_denied':
        throw new UserError('the login was denied', 'run perimeter login again if that was a mistake', 1);
      default:
        throw new UserError(
          `the server refused the login (${errorMessage(answer)})`,
          'run perimeter login again',
          1,
        );
    }
  }

  const enrolment: Enrolment = {
    server,
    org: token.org,
    user: token.user,
    device: token.device,
    credential: token.access_token,
    enrolledAt: new Date().toISOString(),
  };
  // Pin the keys that came with the credential (each one's id must be its thumbprint).
  const published: readonly PublishedKey[] = Array.isArray(token.keys?.keys) ? token.keys.keys : [];
  const keys = published
    .filter((k) => typeof k.x === 'string' && thumbprint(k.x) === k.kid)
    .map((k) => ({ kid: k.kid, x: k.x }));
  if (keys.length === 0)
    throw new UserError(
      'the server sent no signing key to pin',
      'check the server (GET /api/v1/orgs/ORG/keys)',
      1,
    );
  const dir = deviceDir();
  clearDevice(dir);
  writeEnrolment(dir, enrolment);
  writeTrustedKeys(dir, keys);
  ui.out(
    `Logged in to ${server} as ${token.user.email} (organisation ${token.org.slug}); this device is ${token.device.id}.`,
  );

  const synced = await syncOnce(dir, enrolment, {
    waitS: 0,
    timeoutMs: 15_000,
    cacheDir: join(stateDir(), 'policy-cache'),
  });
  switch (synced.kind) {
    case 'activated': {
      const names = synced.active.payload.policies.map((x) => x.name);
      ui.out(
        `Policy bundle revision ${synced.active.payload.revision} is active (${names.length} ${names.length === 1 ? 'policy' : 'policies'}${names.length > 0 ? `: ${names.join(', ')}` : ''}).`,
      );
      ui.out('perimeter run now enforces it; keep it current with: perimeter agent');
      return 0;
    }
    case 'refused':
      ui.err(`perimeter: the first policy bundle was refused: ${synced.refusal.message}`);
      ui.err('  perimeter run refuses to start sessions until a valid one arrives; see perimeter status');
      return 1;
    case 'unchanged':
    case 'unreachable':
    case 'rejected':
      ui.err(
        `perimeter: logged in, but the first policy bundle could not be fetched (${synced.kind === 'unchanged' ? 'no answer' : synced.message})`,
      );
      ui.err('  run perimeter agent to fetch it; perimeter run refuses to start sessions until then');
      return 1;
  }
}
