#!/usr/bin/env node
// The floor under every HTTP row of the MCP benchmark: the thinnest Streamable HTTP relay in front
// of a stdio server that an SDK client can use. Each POSTed message goes to the server's stdin as
// it came, and the server's response to a request is sent back as that POST's application/json
// body; notifications and the client's responses get 202. No authentication, no checks, no
// session beyond a fixed id, nothing decided, scanned or recorded. Not a product: it shows what
// Streamable HTTP itself costs a gateway on this machine.
//
//   node bench/mcp/bare-relay.mjs PORT -- node server-everything stdio

import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

const [port, separator, ...upstream] = process.argv.slice(2);
if (!port || separator !== '--' || upstream.length === 0) {
  console.error('usage: bare-relay.mjs PORT -- COMMAND [ARG...]');
  process.exit(2);
}

const SESSION_ID = 'bare-relay';
const server = spawn(upstream[0], upstream.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
server.once('exit', () => process.exit(1));
/** Each request in flight: its id and the POST waiting for its answer. */
const waiting = new Map();

createInterface({ input: server.stdout }).on('line', (line) => {
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    return;
  }
  const res = 'method' in message ? undefined : waiting.get(message.id);
  // The server's own requests and notifications have no POST to go on: dropped.
  if (res === undefined) return;
  waiting.delete(message.id);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(line),
    'mcp-session-id': SESSION_ID,
  });
  res.end(line);
});

createServer((req, res) => {
  if (req.method === 'DELETE') return res.writeHead(200).end();
  if (req.method !== 'POST') return res.writeHead(405, { allow: 'POST, DELETE' }).end();
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const message = JSON.parse(body);
    if ('method' in message && 'id' in message) waiting.set(message.id, res);
    else res.writeHead(202, { 'mcp-session-id': SESSION_ID }).end();
    server.stdin.write(`${body.replace(/\n/g, '')}\n`);
  });
}).listen(Number(port), '127.0.0.1');
