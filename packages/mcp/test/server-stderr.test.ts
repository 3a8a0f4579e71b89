// Which line of a server's standard error becomes the reason in mcp.server.unavailable and
// mcp.server.crash: the one that says why, not a pointer to a log file. Real outputs, verbatim.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastProblem } from '../src/upstream.js';

const NPX_404 = `npm warn Unknown user config "nodedir".
npm error code E404
npm error 404 Not Found - GET https://registry.npmjs.org/@modelcontextprotocol%2fserver-nonexistent-xyz
npm error 404
npm error 404  The requested resource '@modelcontextprotocol/server-nonexistent-xyz@*' could not be found or you do not have permission to access it.
npm error 404
npm error 404 Note that you can also install from a
npm error 404 tarball, folder, http url, or git url.
npm error A complete log of this run can be found in: /root/.npm/_logs/2026-11-23T16_29_02_800Z-debug-0.log
`;

const NPX_403 = `npm error code E403
npm error 403 403 Forbidden - GET https://registry.npmjs.org/@modelcontextprotocol%2fserver-github
npm error 403 In most cases, you or one of your dependencies are requesting
npm error 403 a package version that is forbidden by your security policy, or
npm error 403 on a server you do not have access to.
npm error A complete log of this run can be found in: /root/.npm/_logs/2026-11-21T10_00_00_000Z-debug-0.log
`;

const NPX_OFFLINE = `npm error code ENOTFOUND
npm error syscall getaddrinfo
npm error errno ENOTFOUND
npm error network request to https://registry.npmjs.org/left-pad failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org
npm error network This is a problem related to network connectivity.
npm error A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log
`;

const NODE_CRASH = `node:internal/modules/cjs/loader:1228
  throw err;
  ^

Error: Cannot find module '/srv/mcp/server.js'
    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)
    at node:internal/main/run_main_module:28:49 {
  code: 'MODULE_NOT_FOUND',
  requireStack: []
}

Node.js v20.20.2
`;

const PYTHON_CRASH = `Traceback (most recent call last):
  File "/srv/mcp/server.py", line 1, in <module>
    import mcp
ModuleNotFoundError: No module named 'mcp'
`;

describe("a server's standard error: the line that says why it stopped", () => {
  it('npx, a package the registry does not have: the 404 and what was fetched', () => {
    assert.equal(
      lastProblem(NPX_404),
      'npm error 404 Not Found - GET https://registry.npmjs.org/@modelcontextprotocol%2fserver-nonexistent-xyz',
    );
  });

  it('npx, a registry that refuses: the 403 and what was fetched, not the log file', () => {
    assert.equal(
      lastProblem(NPX_403),
      'npm error 403 403 Forbidden - GET https://registry.npmjs.org/@modelcontextprotocol%2fserver-github',
    );
  });

  it('npx, no network: the line naming the request that failed', () => {
    assert.match(
      lastProblem(NPX_OFFLINE),
      /^npm error network request to https:\/\/registry\.npmjs\.org\/left-pad failed/,
    );
  });

  it('a Node server whose file is missing: the error, not the version banner', () => {
    assert.equal(lastProblem(NODE_CRASH), "Error: Cannot find module '/srv/mcp/server.js'");
  });

  it('a Python traceback: its last line', () => {
    assert.equal(lastProblem(PYTHON_CRASH), "ModuleNotFoundError: No module named 'mcp'");
  });

  it('nothing that names an error: the last line; nothing at all: empty', () => {
    assert.equal(lastProblem('starting\nlistening on stdio\n'), 'listening on stdio');
    assert.equal(lastProblem(''), '');
  });
});
