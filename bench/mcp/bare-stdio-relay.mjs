#!/usr/bin/env node
// The floor under the stdio row of the MCP benchmark: the thinnest stdio relay a gateway could be,
// a process between the client and a stdio server that reads each message both ways as the
// gateway must (a JSON line, parsed) and writes it on as one line. No checks, nothing decided,
// scanned or recorded, no sandbox. Not a product: it shows what one more stdio hop (two more pipe
// writes and two more process wake-ups a call) costs on this machine.
//
//   node bench/mcp/bare-stdio-relay.mjs -- node server-everything stdio

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const [separator, ...upstream] = process.argv.slice(2);
if (separator !== '--' || upstream.length === 0) {
  console.error('usage: bare-stdio-relay.mjs -- COMMAND [ARG...]');
  process.exit(2);
}

const server = spawn(upstream[0], upstream.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
server.once('exit', (code) => process.exit(code ?? 1));

/** Each line from `input`, parsed and written on to `output`; lines that are not JSON are dropped. */
function relay(input, output) {
  createInterface({ input }).on('line', (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    output.write(`${JSON.stringify(message)}\n`);
  });
}

relay(process.stdin, server.stdin);
relay(server.stdout, process.stdout);
process.stdin.once('end', () => server.stdin.end());
