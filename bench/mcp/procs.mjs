// Child processes of the MCP benchmark: every HTTP peer starts in a process group of its own (so its
// upstream goes down with it), every pid is remembered, and cleanup() ends them all, by pid and by
// group, whatever happened before. CPU time per process comes from /proc (Linux), for the cost of
// each peer per call. Nothing here measures anything.

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

const groups = new Set();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1 (closed again at once; the peer binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `argv` in a new process group, its standard error kept (the last 4 KB) for error
 * messages. Returns { child, pid, stderr(), exited }.
 */
export function spawnGroup(argv, options = {}) {
  const child = spawn(argv[0], argv.slice(1), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? ['ipc'] : [])],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  groups.add(child.pid);
  let err = '';
  const keep = (chunk) => {
    err = (err + chunk.toString('utf8')).slice(-4096);
  };
  child.stderr.on('data', keep);
  child.stdout.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => groups.delete(child.pid));
  return { child, pid: child.pid, stderr: () => err.trim(), exited };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Ends one process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function killGroup(pid, graceMs = 1500) {
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    groups.delete(pid);
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(-pid) && Date.now() < deadline) await sleep(25);
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
  groups.delete(pid);
}

/** Pids of every descendant of `root` (children, their children, …), from /proc. */
export function descendants(root = process.pid) {
  const parentOf = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(name), Number(fields[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out = [];
  const walk = (pid) => {
    for (const [child, parent] of parentOf)
      if (parent === pid) {
        out.push(child);
        walk(child);
      }
  };
  walk(root);
  return out;
}

/**
 * Ends everything this run started: the process groups of the peers, then any descendant left
 * (upstreams the SDK spawned for in-process clients), by pid. Returns the pids it had to kill.
 */
export async function cleanup() {
  await Promise.all([...groups].map((pid) => killGroup(pid, 1000)));
  const left = descendants();
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  return left;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU time (user + system) of one process so far, in µs, from /proc/PID/stat; NaN if unreadable. */
export function processCpuUs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5), counted from the state field (3) here.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}
