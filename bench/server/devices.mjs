// Simulated devices, in a process of their own (the benchmark forks one or two): each device runs
// the loop of `perimeter agent` (packages/cli/src/commands/agent.ts → device/sync.ts syncOnce):
// a long poll GET /api/v1/device/bundle?wait=55 with its credential and the ETag it holds; on a
// 200, the bundle verified against the pinned keys with the CLI's own verifyBundle (signature,
// type, organisation, expiry, no rollback), every policy in it loaded with the CLI's
// loadPolicySources (what activation does before a session may use it), and accepted as the
// device's active bundle; then the activation report POSTed, and the next long poll. A 304 (the
// wait ran out) polls again; a failure backs off as the agent does.
//
// What is not the real device: the active bundle and the sync state stay in memory (the agent
// writes two small files per activation), connections are kept alive (the CLI opens one per call),
// and HTTP is spoken by a minimal client of the benchmark's (http.mjs DeviceConnection: the same
// requests, for much less CPU than node:http, on the two cores the server under test also runs
// on); each device's bundle, ETag and held revision are its own.
//
// Times are process.hrtime.bigint() nanoseconds (CLOCK_MONOTONIC, the same clock in every process
// of the machine), so the parent compares them with the moment it started the publish request.

import { hasErrors } from '@perimeter/policy';
import { isOlder, verifyBundle } from '../../packages/cli/dist/src/device/bundle-verify.js';
import { backoffMs } from '../../packages/cli/dist/src/device/sync.js';
import { loadPolicySources } from '../../packages/cli/dist/src/policy-files.js';
import { DeviceConnection } from './http.mjs';

const LONG_POLL_S = 55;
const POLL_TIMEOUT_MS = (LONG_POLL_S + 15) * 1000;
const REPORT_TIMEOUT_MS = 5000;

if (!process.send) throw new Error('devices.mjs runs forked by the benchmark');

let config;
let devices = [];
let stopped = false;
/** The revision every device of this process must hold before it reports the round done. */
let target;
/** The first few errors since the last report to the parent, and how many there were. */
const errors = [];
let errorCount = 0;

const now = () => process.hrtime.bigint();

function recordError(device, what) {
  if (errors.length < 20) errors.push(`${device.id}: ${what}`);
  errorCount++;
}

/** The in-memory part of offerBundle (packages/cli/src/device/active-bundle.ts), without `held`. */
function verifyAndLoad(jws) {
  const verified = verifyBundle(jws, config.trusted, { orgId: config.orgId, now: Date.now() });
  if (!verified.ok) return verified;
  const payload = verified.payload;
  const policies = loadPolicySources(
    payload.policies.map((p) => ({
      file: `bundle ${payload.revision}: ${p.name}@${p.revision}`,
      text: JSON.stringify(p.document),
    })),
  );
  if (hasErrors(policies.diagnostics))
    return {
      ok: false,
      code: 'invalid-policy',
      message: `revision ${payload.revision} holds an invalid policy`,
    };
  return { ok: true, payload, policies };
}

/**
 * Bundles this process verified and loaded, by their exact bytes, with what that cost (ns). With
 * `activation: 'shared'`, a device given bytes another simulated device already verified takes
 * that outcome (verification is a pure function of the bytes, the pinned keys and the
 * organisation) and is charged the measured cost as its own: on a real fleet each device pays it
 * on its own machine, in parallel, not one after another on the benchmark's two cores.
 */
const verifiedBundles = new Map();

/**
 * Offers a bundle to a device: { ok, payload, costNs, chargeNs } or a refusal. `chargeNs` is what
 * its activation time lacks: the cost of a verification it took from another device, none when it
 * verified the bytes itself (that time is already in its activation).
 */
function offer(device, jws) {
  let outcome;
  let costNs;
  const known = config.activation === 'shared' ? verifiedBundles.get(jws) : undefined;
  if (known) ({ outcome, costNs } = known);
  else {
    const started = now();
    outcome = verifyAndLoad(jws);
    costNs = now() - started;
    if (config.activation === 'shared' && outcome.ok) {
      if (verifiedBundles.size >= 64) verifiedBundles.delete(verifiedBundles.keys().next().value);
      verifiedBundles.set(jws, { outcome, costNs });
    }
  }
  if (!outcome.ok) return outcome;
  // What depends on the device and the moment is checked per device, as verifyBundle does.
  if (Date.now() >= Date.parse(outcome.payload.notAfter))
    return { ok: false, code: 'expired', message: `revision ${outcome.payload.revision} expired` };
  if (device.held && isOlder(outcome.payload, device.held))
    return { ok: false, code: 'rollback', message: 'older than the held revision' };
  return { ...outcome, costNs, chargeNs: known ? costNs : 0n };
}

async function report(device, body) {
  try {
    await device.connection.request({
      path: '/api/v1/device/activation',
      method: 'POST',
      headers: { authorization: `Bearer ${device.credential}` },
      body,
      timeoutMs: REPORT_TIMEOUT_MS,
    });
  } catch {
    // As the agent: a lost report is sent again with the next activation.
  }
}

async function follow(device) {
  let failures = 0;
  while (!stopped) {
    device.polling = false;
    let answer;
    try {
      answer = await device.connection.request({
        path: `/api/v1/device/bundle?wait=${LONG_POLL_S}`,
        headers: {
          authorization: `Bearer ${device.credential}`,
          ...(device.etag !== undefined ? { 'if-none-match': device.etag } : {}),
        },
        timeoutMs: POLL_TIMEOUT_MS,
        onSent: () => {
          device.polling = true;
          checkDone(device);
        },
      });
    } catch (e) {
      if (stopped) return;
      recordError(device, e.message);
      failures++;
      await sleep(backoffMs(failures));
      continue;
    }
    device.polling = false;
    if (answer.status === 304) {
      failures = 0;
      continue;
    }
    if (answer.status !== 200) {
      recordError(device, `HTTP ${answer.status}: ${errorOf(answer.text)}`);
      failures++;
      await sleep(backoffMs(failures));
      continue;
    }
    const deliveredAt = now();
    const offered = offer(device, answer.text);
    const activatedAt = now();
    if (!offered.ok) {
      recordError(device, `refused: ${offered.code} ${offered.message}`);
      await report(device, { error: { code: offered.code, message: offered.message.slice(0, 500) } });
      failures++;
      await sleep(backoffMs(failures));
      continue;
    }
    failures = 0;
    const { revision, issuedAt } = offered.payload;
    device.held = { revision, issuedAt };
    device.active = offered;
    device.etag = answer.headers.etag;
    device.activations.push({
      revision,
      deliveredAt,
      activatedAt,
      costNs: offered.costNs,
      chargeNs: offered.chargeNs,
    });
    await report(device, { revision, issuedAt, activatedAt: new Date().toISOString() });
  }
}

/** An API error body as "code: message", or the start of whatever else came. */
function errorOf(text) {
  try {
    const { error } = JSON.parse(text);
    return `${error.code}: ${error.message}`;
  } catch {
    return text.slice(0, 200);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How many devices hold the target revision and wait in a long poll again. */
let settled = 0;

/** Counts the device in once it holds the target and polls again; tells the parent when all do. */
function checkDone(device) {
  if (target === undefined || device.settledFor === target) return;
  if (!device.polling || device.held?.revision !== target) return;
  device.settledFor = target;
  if (++settled < devices.length) return;
  const revision = target;
  target = undefined;
  process.send({ type: 'done', ...samplesOf(revision) });
}

/** Each device's times for the revision ([delivered, activated, cost]), and how many lack it. */
function samplesOf(revision) {
  const samples = [];
  let missing = 0;
  for (const d of devices) {
    const a = d.activations.find((x) => x.revision === revision);
    if (a) samples.push([Number(a.deliveredAt), Number(a.activatedAt), Number(a.costNs), Number(a.chargeNs)]);
    else missing++;
  }
  const reported = {
    revision,
    samples,
    missing,
    errors: errors.splice(0),
    errorCount,
    cpu: process.cpuUsage(),
  };
  errorCount = 0;
  return reported;
}

function expect(revision) {
  target = revision;
  settled = 0;
  for (const d of devices) checkDone(d);
}

process.on('message', async (m) => {
  switch (m.type) {
    case 'init':
      config = m;
      devices = m.devices.map((d) => ({
        ...d,
        connection: new DeviceConnection(m.url),
        polling: false,
        activations: [],
      }));
      process.send({ type: 'ready' });
      break;
    case 'start': {
      // The initial sync: every device fetches the current bundle, then holds its long poll. Devices
      // come online at `m.perSecond`, as after a fleet-wide restart, not all in one instant.
      expect(m.revision);
      const gapMs = 1000 / m.perSecond;
      const startedAt = performance.now();
      for (const [i, d] of devices.entries()) {
        const due = startedAt + i * gapMs - performance.now();
        if (due > 0) await sleep(due);
        if (stopped) return;
        void follow(d);
      }
      break;
    }
    case 'expect':
      expect(m.revision);
      break;
    case 'collect':
      // The round ran out of time: what arrived so far.
      target = undefined;
      process.send({ type: 'done', ...samplesOf(m.revision) });
      break;
    case 'usage':
      process.send({ type: 'usage', cpu: process.cpuUsage() });
      break;
    case 'stop':
      stopped = true;
      for (const d of devices) d.connection.destroy();
      process.send({ type: 'stopped' });
      process.disconnect();
      break;
  }
});
