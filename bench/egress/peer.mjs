// One proxy under test, in a child process of its own (forked by run.mjs with an IPC channel):
// `node peer.mjs <key> <sink port>`. Starts the proxy, reports { type: 'ready', port, version },
// answers 'usage' with its CPU time, memory and open client connections (so the driver can charge
// each phase its cost and see connections left behind), and exits on 'stop' or when the driver
// goes away; it never outlives the run.

import { startPeer } from './peers.mjs';

const [key, sinkPortText] = process.argv.slice(2);
const send = (message) => process.send?.(message);

let peer;
try {
  peer = await startPeer(key, Number(sinkPortText));
} catch (e) {
  send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}

const stop = () => {
  peer.close();
  process.exit(0);
};
process.on('disconnect', stop);
process.on('message', (message) => {
  if (message?.type === 'usage') {
    // Every proxy here is a node:net server underneath; its count is of client sockets not closed.
    peer.server.getConnections((error, open) => {
      const memory = process.memoryUsage();
      send({
        type: 'usage',
        cpu: process.cpuUsage(),
        minorFaults: process.resourceUsage().minorPageFault,
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        open: error ? -1 : open,
        // The monotonic clock V8's CPU profiler stamps its samples with (µs), for profile.mjs.
        nowUs: Number(process.hrtime.bigint() / 1000n),
      });
    });
  } else if (message?.type === 'stop') {
    stop();
  }
});
send({ type: 'ready', port: peer.port, version: peer.version });
