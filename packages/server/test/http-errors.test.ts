// Malformed requests get a 4xx with one clear sentence in the one error shape: bodies that are too
// large (by Content-Length or as they stream), not JSON, the wrong shape, unknown fields; unknown
// paths and methods. Every answer names its request id, and nothing is changed.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { it } from 'node:test';
import { eachServer, type ErrorReply, type Harness, type Reply } from './harness.js';

function assertErrorShape(reply: Reply<ErrorReply>): void {
  assert.deepEqual(Object.keys(reply.body), ['error']);
  const { code, message, requestId } = reply.body.error;
  assert.match(code, /^[a-z-]+$/);
  assert.ok(message.length > 0 && !message.includes('\n'), 'one sentence');
  assert.equal(reply.headers.get('x-request-id'), requestId);
  assert.equal(reply.headers.get('content-type'), 'application/json; charset=utf-8');
}

/** Sends a body in chunks without a Content-Length (chunked), as a streaming client would. */
function streamBody(
  h: Harness,
  path: string,
  chunks: number,
  chunkSize: number,
): Promise<{ status: number; body: ErrorReply }> {
  const url = new URL(h.server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: 'POST',
        headers: { authorization: `Bearer ${h.owner.token ?? ''}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as ErrorReply }));
      },
    );
    // The server may close the connection while we still write: that is the point.
    req.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e),
    );
    const chunk = Buffer.alloc(chunkSize, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < chunks) {
        sent++;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

eachServer('HTTP errors', (harness) => {
  it('a body over the limit is refused with 413, by its Content-Length or as it streams', async () => {
    const h = harness();
    const big = 'x'.repeat(2 * 1024 * 1024);
    const declared = await h.owner.request('POST', `${h.base}/users`, undefined, {
      raw: JSON.stringify({ email: 'a@example.com', name: big }),
    });
    assert.equal(declared.status, 413);
    assert.equal(declared.body.error.code, 'body-too-large');
    assert.equal(
      declared.body.error.message,
      `the request body is larger than ${1024 * 1024 + 64 * 1024} bytes`,
    );
    assertErrorShape(declared);
    const streamed = await streamBody(h, `${h.base}/users`, 40, 64 * 1024);
    assert.equal(streamed.status, 413);
    assert.equal(streamed.body.error.code, 'body-too-large');
    const users = await h.owner.get<{ users: unknown[] }>(`${h.base}/users`);
    assert.deepEqual(users.body.users, [], 'nothing was stored');
  });

  it('a policy text up to the limit is accepted', async () => {
    const h = harness();
    const padding = `# ${'x'.repeat(1000)}\n`.repeat(900);
    const text = `apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: big\n  layer: org\n${padding}`;
    const reply = await h.owner.post<{ validation: { valid: boolean } }>(`${h.base}/policies`, {
      name: 'big',
      text,
    });
    assert.equal(reply.status, 201);
    assert.equal(reply.body.validation.valid, true);
  });

  it('a body that is not JSON is a 400; one not labelled JSON a 415', async () => {
    const h = harness();
    const broken = await h.owner.request('POST', `${h.base}/users`, undefined, {
      raw: '{"email": "a@example.com",',
    });
    assert.equal(broken.status, 400);
    assert.equal(broken.body.error.code, 'bad-json');
    assert.match(broken.body.error.message, /^the body is not valid JSON \(/);
    assertErrorShape(broken);
    const labelled = await h.owner.request('POST', `${h.base}/users`, undefined, {
      raw: 'email=a@example.com',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(labelled.status, 415);
    assert.equal(
      labelled.body.error.message,
      'the body must be JSON, but its Content-Type is "application/x-www-form-urlencoded"',
    );
    const empty = await h.owner.request('POST', `${h.base}/users`, undefined, { raw: '' });
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error.message, 'this endpoint needs a JSON body');
  });

  it('a body of the wrong shape names the field and what it should be', async () => {
    const h = harness();
    const cases: [unknown, string][] = [
      [[], 'the body must be a JSON object'],
      [{}, '"email" is required'],
      [{ email: 42 }, '"email" must be a string'],
      [{ email: 'a@example.com', active: 'yes' }, '"active" must be a boolean'],
      [{ email: 'a@example.com', admin: true }, '"admin" is not a field of the body'],
      [{ email: 'a@example.com', name: 'a\u0000b' }, '"name": a name has a control character'],
    ];
    for (const [body, message] of cases) {
      const reply = await h.owner.post(`${h.base}/users`, body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.body.error.code, 'invalid-body');
      assert.equal(reply.body.error.message, message);
      assertErrorShape(reply);
    }
    const role = await h.owner.post(`${h.base}/admins`, { email: 'r@example.com', role: 'superuser' });
    assert.equal(role.body.error.message, '"role" must be one of owner, policy-admin, auditor, viewer');
  });

  it('redteam-31-1: unknown keys are quoted by their first 40 characters, length and hash, three at most, not whole', async () => {
    const h = harness();
    const mark = (bytes: number): string => `…\\[cut: ${bytes} bytes, sha256 [0-9a-f]{16}\\]`;
    const long = `k${'x'.repeat(900 * 1024)}`;
    const cases: [string, () => Promise<Reply<ErrorReply>>, RegExp][] = [
      [
        'a body key of 900 KiB',
        () => h.owner.post(`${h.base}/users`, { email: 'a@example.com', [long]: 1 }),
        new RegExp(`^"kx{39}${mark(long.length)}" is not a field of the body$`),
      ],
      [
        'twenty thousand body keys',
        () =>
          h.owner.post(`${h.base}/users`, {
            email: 'a@example.com',
            ...Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`${i}${'y'.repeat(40)}`, 1])),
          }),
        new RegExp(
          `^"0y{39}${mark(41)}", "1y{39}${mark(41)}", "2y{39}${mark(41)}" and 19997 more are not fields of the body$`,
        ),
      ],
      [
        'a query parameter of 8,000 characters',
        () => h.owner.get(`${h.base}/events?${'q'.repeat(8000)}=1`),
        new RegExp(`^"q{40}${mark(8000)}" is not a field of the query$`),
      ],
    ];
    for (const [name, send, message] of cases) {
      const reply = await send();
      assert.equal(reply.status, 400, name);
      assertErrorShape(reply);
      assert.match(reply.body.error.message, message, name);
      assert.ok(JSON.stringify(reply.body).length < 1000, `${name}: the reply is short`);
    }
    assert.ok(
      h.logs.every((l) => JSON.stringify(l).length < 1000),
      'no log line quotes what the client sent',
    );
    const users = await h.owner.get<{ users: unknown[] }>(`${h.base}/users`);
    assert.deepEqual(users.body.users, [], 'nothing was stored');
  });

  it('unknown query parameters, and repeated ones, are refused', async () => {
    const h = harness();
    const unknown = await h.owner.get(`${h.base}/events?colour=red`);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.message, '"colour" is not a field of the query');
    const none = await h.owner.get(`${h.base}/users?x=1`);
    assert.equal(none.body.error.message, `${h.base}/users takes no query parameters`);
    const twice = await h.owner.get(`${h.base}/events?limit=1&limit=2`);
    assert.equal(twice.body.error.message, 'the query parameter "limit" is given twice');
  });

  it('an unknown path is a 404 and a wrong method a 405 that says which methods there are', async () => {
    const h = harness();
    const missing = await h.owner.get('/api/v1/nothing-here');
    assert.equal(missing.status, 404);
    assertErrorShape(missing);
    const outside = await h.owner.get('/elsewhere');
    assert.equal(outside.status, 404);
    const method = await h.owner.request('DELETE', `${h.base}/policies`);
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'GET, POST');
    assert.equal(method.body.error.message, `DELETE is not allowed on ${h.base}/policies`);
  });

  it('an id of the wrong kind is simply not found', async () => {
    const h = harness();
    for (const path of [
      `${h.base}/users/not-an-id`,
      `${h.base}/users/grp_${'0'.repeat(32)}`,
      `${h.base}/policies/pol_${'0'.repeat(32)}/revisions/0`,
      `${h.base}/policies/pol_${'0'.repeat(32)}/revisions/-1`,
    ]) {
      const reply = await h.owner.get(path);
      assert.equal(reply.status, 404, path);
      assert.equal(reply.body.error.code, 'not-found');
    }
  });

  it('a connection survives a refused request and serves the next one', async () => {
    const h = harness();
    const bad = await h.owner.request('POST', `${h.base}/users`, undefined, { raw: '{' });
    assert.equal(bad.status, 400);
    const good = await h.owner.get(`${h.base}/users`);
    assert.equal(good.status, 200);
  });
});
