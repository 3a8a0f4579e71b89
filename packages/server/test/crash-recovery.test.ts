// kill -9 (issue 6 item 8): the server process is killed while publishes, or devices' audit
// uploads, are in flight, then started again on the same data. Nothing acknowledged is lost,
// nothing is half done, nothing is stored twice. A publication has its revision in force or
// retired and its admin event, the admin chain still verifies, and numbering goes on without a gap
// or a repeat; a device that sends its whole spool again after the crash gets every acknowledged
// event back as a duplicate and the rest stored, each chain whole, each event once.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { verifySpool, type AuditEvent } from '@perimeter/audit';
import { BACKENDS, freshDatabase, type TestDatabase } from './backends.js';
import { chain, deviceOf, ndjson, type IngestReply, type TestDevice } from './audit-support.js';
import { claim, Client, policyYaml, type Harness } from './harness.js';

const PROCESS = fileURLToPath(new URL('./server-process.js', import.meta.url));

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly bootstrap: string | null;
}

/** Starts the server in its own process and waits for its first line. */
function startProcess(db: TestDatabase): Promise<Started> {
  const child = spawn(process.execPath, [PROCESS], {
    env: {
      ...process.env,
      PERIMETER_TEST_DATA: db.dataDir,
      ...(db.url !== undefined ? { PERIMETER_TEST_DATABASE: db.url } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server process did not start in 20 s: ${err}`));
    }, 20_000);
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line !== undefined) {
        clearTimeout(timer);
        const parsed = JSON.parse(line) as { url: string; bootstrap: string | null };
        resolve({ child, ...parsed });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server process exited with ${code}: ${err}`));
    });
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

interface Publication {
  seq: number;
  policyId: string;
  revision: number;
  kind: string;
}

/** Every stored event, oldest first (the API pages newest first). */
async function allEvents(c: Client, base: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let before: string | null = null;
  for (let page = 0; page < 100; page++) {
    const query: string = `limit=1000${before ? `&before=${before}` : ''}`;
    const r: { status: number; body: { events: AuditEvent[]; next: string | null } } = await c.get(
      `${base}/events?${query}`,
    );
    assert.equal(r.status, 200);
    out.push(...r.body.events);
    before = r.body.next;
    if (before === null) break;
  }
  return out.reverse();
}

const POLICIES = 4;
const revisionText = (name: string, n: number): string =>
  policyYaml(name, `network:\n  allow:\n    - { id: r${n}, hosts: [h${n}.example.com], ports: [443] }\n`);

for (const backend of BACKENDS) {
  describe(`kill -9 during publication (${backend})`, () => {
    let db: TestDatabase | undefined;
    let running: ChildProcess | undefined;
    after(async () => {
      running?.kill('SIGKILL');
      await db?.drop();
    });

    it('loses no acknowledged publish, leaves none half done, and numbers on without a gap', async () => {
      db = await freshDatabase(backend);
      const first = await startProcess(db);
      running = first.child;
      assert.ok(first.bootstrap, 'a first start has a bootstrap token');
      const claimed = await claim(first.url, first.bootstrap);
      const base = `/api/v1/orgs/${claimed.org.id}`;
      let owner = new Client(first.url, claimed.token.secret);

      const ids: string[] = [];
      for (let p = 0; p < POLICIES; p++) {
        const made = await owner.post<{ policy: { id: string } }>(`${base}/policies`, { name: `p${p}` });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        ids.push(made.body.policy.id);
      }

      // Each policy: add a revision, publish it, again, until the server is killed under them.
      const acknowledged: Publication[] = [];
      let killed = false;
      const loop = async (p: number): Promise<void> => {
        const id = ids[p] ?? '';
        for (let n = 1; n <= 200 && !killed; n++) {
          try {
            const added = await owner.post<{ revision: { number: number } }>(
              `${base}/policies/${id}/revisions`,
              {
                text: revisionText(`p${p}`, n),
              },
            );
            if (added.status !== 201) return;
            const r = await owner.post<{ publication: Publication }>(
              `${base}/policies/${id}/revisions/${added.body.revision.number}/publish`,
            );
            if (r.status === 200) acknowledged.push(r.body.publication);
          } catch {
            return; // the connection died with the server
          }
        }
      };
      const loops = Array.from({ length: POLICIES }, (_, p) => loop(p));
      // Kill once a dozen publishes are through, with the others mid-request (bounded: 30 s).
      const deadline = Date.now() + 30_000;
      while (acknowledged.length < 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.ok(acknowledged.length >= 12, 'publishes went through before the kill');
      killed = true;
      await kill9(first.child);
      await Promise.all(loops);

      const second = await startProcess(db);
      running = second.child;
      assert.equal(second.bootstrap, null, 'the organisation keeps its owner');
      owner = new Client(second.url, claimed.token.secret);

      const listed = await owner.get<{ publications: Publication[] }>(`${base}/publications`);
      assert.equal(listed.status, 200);
      const publications = [...listed.body.publications].sort((a, b) => a.seq - b.seq);
      // Nothing acknowledged is lost.
      const stored = new Set(publications.map((p) => `${p.policyId}#${p.revision}#${p.seq}`));
      for (const a of acknowledged)
        assert.ok(stored.has(`${a.policyId}#${a.revision}#${a.seq}`), `publication ${a.seq} survived`);
      // Numbered 1..n without a gap or a repeat.
      assert.deepEqual(
        publications.map((p) => p.seq),
        publications.map((_, i) => i + 1),
      );
      // Each policy's published revision is its last publication; every earlier one is retired.
      for (const id of ids) {
        const mine = publications.filter((p) => p.policyId === id);
        const policy = await owner.get<{ publishedRevision: number | null }>(`${base}/policies/${id}`);
        assert.equal(policy.body.publishedRevision, mine.at(-1)?.revision ?? null);
        const revisions = await owner.get<{ revisions: { number: number; status: string }[] }>(
          `${base}/policies/${id}/revisions`,
        );
        const published = new Set(mine.map((p) => p.revision));
        for (const r of revisions.body.revisions) {
          const expected =
            r.number === mine.at(-1)?.revision ? 'published' : published.has(r.number) ? 'retired' : 'draft';
          assert.equal(r.status, expected, `revision ${r.number} of ${id}`);
        }
      }
      // Every publication has its admin event and no event names a publication that is not there.
      const admin = (await allEvents(owner, base)).filter(
        (e) => e.integrity.chain_id === `admin:${claimed.org.id}`,
      );
      const publishEvents = admin.filter((e) => e.type === 'admin.policy.publish');
      assert.deepEqual(
        publishEvents.map((e) => Number(e.outcome?.publication)).sort((a, b) => a - b),
        publications.map((p) => p.seq),
      );
      // The admin chain is whole: one chain, seq from 0, every link and hash intact.
      const chain = [...admin].sort((a, b) => a.integrity.seq - b.integrity.seq);
      const check = verifySpool(chain.map((e) => JSON.stringify(e)).join('\n') + '\n');
      assert.ok(check.isIntact, JSON.stringify(check.problems.slice(0, 3)));

      // And it goes on: the next publish takes the next number.
      const id = ids[0] ?? '';
      const added = await owner.post<{ revision: { number: number } }>(`${base}/policies/${id}/revisions`, {
        text: revisionText('p0', 999),
      });
      const next = await owner.post<{ publication: Publication }>(
        `${base}/policies/${id}/revisions/${added.body.revision.number}/publish`,
      );
      assert.equal(next.status, 200, JSON.stringify(next.body));
      assert.equal(next.body.publication.seq, publications.length + 1);
      await kill9(second.child);
      running = undefined;
    });
  });

  describe(`kill -9 during audit ingest (${backend})`, () => {
    let db: TestDatabase | undefined;
    let running: ChildProcess | undefined;
    after(async () => {
      running?.kill('SIGKILL');
      await db?.drop();
    });

    it('stores every event once: acknowledged batches survive, a full resend fills in the rest', async () => {
      db = await freshDatabase(backend);
      const first = await startProcess(db);
      running = first.child;
      assert.ok(first.bootstrap);
      const claimed = await claim(first.url, first.bootstrap);
      const base = `/api/v1/orgs/${claimed.org.id}`;
      // What the shared helpers need of a harness: the server's URL and its owner.
      const harnessAt = (url: string): Harness =>
        ({
          base,
          owner: new Client(url, claimed.token.secret),
          server: { url },
          client: (token?: string) => new Client(url, token),
        }) as unknown as Harness;
      const h = harnessAt(first.url);

      // Three devices, two sessions each, 2,000 events a session, sent 250 at a time.
      const devices: TestDevice[] = [];
      for (let d = 0; d < 3; d++) devices.push(await deviceOf(h, `user${d}@example.com`, `laptop${d}`));
      const start = Date.now() - 3_600_000;
      const sessions = devices.map((_, d) =>
        [0, 1].map((n) => {
          const id = `0190aaaa-0000-7000-8000-0000000${d}${n}000`.slice(0, 36);
          return {
            id,
            events: chain(
              id,
              Array.from({ length: 2000 }, (_, i) => ({
                at: start + i * 10,
                resource: `host${i % 7}.example.com:443`,
              })),
            ).events,
          };
        }),
      );
      const BATCH = 250;
      const post = (url: string, device: TestDevice, events: readonly AuditEvent[]) =>
        fetch(`${url}/api/v1/device/events`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${device.credential}`,
            'content-type': 'application/x-ndjson',
            'content-encoding': 'gzip',
          },
          body: gzipSync(ndjson(events)),
        });

      // Acknowledged: per session, how many events from the start the server has answered 200 for.
      const acknowledged = new Map<string, number>();
      let killed = false;
      const ship = async (d: number): Promise<void> => {
        for (const session of sessions[d] ?? []) {
          for (let at = 0; at < session.events.length && !killed; at += BATCH) {
            try {
              const r = await post(first.url, devices[d] as TestDevice, session.events.slice(at, at + BATCH));
              if (r.status !== 200) return;
              acknowledged.set(session.id, at + BATCH);
            } catch {
              return; // the server died under the request
            }
          }
        }
      };
      const shipping = devices.map((_, d) => ship(d));
      const acked = (): number => [...acknowledged.values()].reduce((a, b) => a + b, 0);
      const deadline = Date.now() + 30_000;
      while (acked() < 3000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      assert.ok(acked() >= 3000, 'uploads went through before the kill');
      killed = true;
      await kill9(first.child);
      await Promise.all(shipping);

      const second = await startProcess(db);
      running = second.child;
      // Each device sends every session again from the start, as one that lost its cursors would.
      for (const [d, device] of devices.entries()) {
        for (const session of sessions[d] ?? []) {
          const sent = acknowledged.get(session.id) ?? 0;
          for (let at = 0; at < session.events.length; at += BATCH) {
            const batch = session.events.slice(at, at + BATCH);
            const r = await post(second.url, device, batch);
            const body = (await r.json()) as IngestReply;
            assert.equal(r.status, 200, JSON.stringify(body));
            assert.equal(body.stored + body.duplicates, batch.length);
            if (at + BATCH <= sent)
              assert.equal(
                body.duplicates,
                batch.length,
                `${session.id} at ${at}: acknowledged, so stored already`,
              );
          }
          // Each event once, the chain whole.
          const exported = await fetch(
            `${second.url}${base}/events/export?format=jsonl&session=${session.id}`,
            { headers: { authorization: `Bearer ${claimed.token.secret}` } },
          );
          assert.equal(exported.status, 200);
          const stored = (await exported.text())
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as AuditEvent);
          assert.deepEqual(
            stored.map((e) => e.integrity.seq),
            session.events.map((e) => e.integrity.seq),
            `${session.id}: every event once, in order`,
          );
          const check = verifySpool(stored.map((e) => JSON.stringify(e)).join('\n') + '\n');
          assert.ok(check.isIntact, JSON.stringify(check.problems.slice(0, 3)));
        }
      }
      await kill9(second.child);
      running = undefined;
    });
  });
}
