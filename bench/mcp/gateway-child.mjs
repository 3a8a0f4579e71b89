// Perimeter's gateway over Streamable HTTP in a process of its own, like `perimeter mcp --listen`
// (forked by run.mjs with an IPC channel): `node gateway-child.mjs <json config>`. Starts the
// gateway and listenHttp on 127.0.0.1, reports { type: 'ready', url, pid }, keeps the
// gateway_ms / upstream_ms of every mcp.result event while recording is on, answers 'samples',
// and exits on 'stop' or when the driver goes away. With `profileFile` in the config, V8's CPU
// profiler runs from 'profile-start' to 'profile-stop' and the profile is written there; with
// `auditTo: 'memory'` the audit records go to an array instead of the spool (a reference only).

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import { buildGateway } from './setup.mjs';
import { listenHttp } from '@perimeter/mcp';

const config = JSON.parse(process.argv[2] ?? '{}');
const send = (message) => process.send?.(message);

let recording = false;
const samples = { gatewayMs: [], upstreamMs: [] };
let built;
let http;
try {
  built = buildGateway({
    servers: config.servers ?? 1,
    dir: config.dir,
    auditTo: config.auditTo ?? 'spool',
    onResult: (outcome) => {
      if (!recording || typeof outcome?.gateway_ms !== 'number') return;
      samples.gatewayMs.push(outcome.gateway_ms);
      samples.upstreamMs.push(outcome.upstream_ms);
    },
  });
  await built.gateway.start();
  http = await listenHttp(built.gateway, { host: '127.0.0.1', port: 0, token: config.token });
  // Serving from here on: as `perimeter mcp --listen` does once its gateway has started.
  createRequire(import.meta.url)('../../packages/cli/bin/v8-tuning.js').tuneV8();
} catch (e) {
  send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}

let profiler;
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await http.close().catch(() => undefined);
  await built.close().catch(() => undefined);
  process.exit(0);
};
process.on('disconnect', () => void stop());
process.on('message', (message) => {
  if (message?.type === 'record') {
    recording = message.on === true;
    send({ type: 'recording', on: recording });
  } else if (message?.type === 'samples') {
    send({ type: 'samples', ...samples });
  } else if (message?.type === 'profile-start' && config.profileFile) {
    void (async () => {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 50 });
      await profiler.post('Profiler.start');
      send({ type: 'profiling' });
    })();
  } else if (message?.type === 'profile-stop' && profiler) {
    void (async () => {
      const { profile } = await profiler.post('Profiler.stop');
      profiler.disconnect();
      profiler = undefined;
      writeFileSync(config.profileFile, JSON.stringify(profile));
      send({ type: 'profiled', file: config.profileFile });
    })();
  } else if (message?.type === 'stop') {
    void stop();
  }
});
send({ type: 'ready', url: http.url, pid: process.pid });
