// The local pin store: which tool definitions the user approved (or trusted on first use), and
// which ones the gateway has seen but may not show yet (new, or drifted from their pin), kept with
// the definition so `perimeter mcp pins list` can show the change and `approve` can approve exactly
// what was seen. One JSON file, written whole through a temporary file and rename under a lock
// file, so a gateway and the CLI never lose each other's writes.

import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';

export interface ApprovedPin {
  readonly hash: string;
  readonly at: string;
  /** `tofu`: trusted on first use; `user`: approved with `perimeter mcp pins approve`. */
  readonly by: 'tofu' | 'user';
}

export interface PendingDefinition {
  readonly hash: string;
  readonly definition: Record<string, unknown>;
  readonly seenAt: string;
  /** The approved hash it drifted from; absent for a tool never approved. */
  readonly previous?: string;
  /** Why it is held: a new tool under `pinning: approve`, drift, or poisoning findings. */
  readonly reason: string;
  /** What changed since the definition last accepted (`description changed`, `… added`). */
  readonly diff?: readonly string[];
}

/** The last definition accepted for a tool (it matched its pin): what a drift is compared with. */
export interface KnownDefinition {
  readonly hash: string;
  readonly definition: Record<string, unknown>;
}

interface PinFile {
  readonly version: 1;
  approved: Record<string, Record<string, ApprovedPin>>;
  pending: Record<string, Record<string, PendingDefinition>>;
  known?: Record<string, Record<string, KnownDefinition>>;
}

/** The whole store at one moment, for many look-ups from one read (a listing reads it once). */
export interface PinView {
  /** Which version of the file this is: it changes with every write, by anyone. */
  readonly version: string;
  readonly approved: Readonly<Record<string, Readonly<Record<string, ApprovedPin>>>>;
  readonly pending: Readonly<Record<string, Readonly<Record<string, PendingDefinition>>>>;
  readonly known: Readonly<Record<string, Readonly<Record<string, KnownDefinition>>>>;
}

export class PinStoreError extends Error {}

const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 5_000;
/** The version of a store that does not exist yet. */
const ABSENT = 'absent';

export class PinStore {
  /** The file as last parsed, with the stat that identifies that version of it. */
  private cached: { key: string; file: PinFile } | undefined;

  constructor(readonly file: string) {}

  approved(server: string, tool: string): ApprovedPin | undefined {
    return this.read().approved[server]?.[tool];
  }

  /** The store as it is on disk now (one stat; parsed again only when it changed). Read it, never change it. */
  view(): PinView {
    const { key, file } = this.current();
    return { version: key, approved: file.approved, pending: file.pending, known: file.known ?? {} };
  }

  /** The version on disk now (one stat): compare with PinView.version to see whether anyone wrote since. */
  version(): string {
    return this.current().key;
  }

  /** Every approved pin and every held definition, for listing. */
  snapshot(): {
    approved: Record<string, Record<string, ApprovedPin>>;
    pending: Record<string, Record<string, PendingDefinition>>;
  } {
    const { approved, pending } = this.read();
    return { approved, pending };
  }

  /** The definition last accepted for a tool, if any. */
  known(server: string, tool: string): KnownDefinition | undefined {
    return this.read().known?.[server]?.[tool];
  }

  /** Remembers an accepted definition (written only when it is not the one already remembered). */
  remember(server: string, tool: string, known: KnownDefinition): void {
    if (this.known(server, tool)?.hash === known.hash) return;
    this.update((f) => {
      ((f.known ??= {})[server] ??= {})[tool] = known;
    });
  }

  /** Pins a definition seen for the first time under `pinning: tofu`. Never replaces a pin. */
  trustOnFirstUse(server: string, tool: string, hash: string): ApprovedPin {
    return this.update((f) => {
      const had = f.approved[server]?.[tool];
      if (had) return had;
      const pin: ApprovedPin = { hash, at: new Date().toISOString(), by: 'tofu' };
      (f.approved[server] ??= {})[tool] = pin;
      return pin;
    });
  }

  /** Records a definition the gateway holds back. Returns false when it was already recorded. */
  hold(server: string, tool: string, held: PendingDefinition): boolean {
    const was = this.read().pending[server]?.[tool];
    if (was?.hash === held.hash && was.reason === held.reason) return false;
    return this.update((f) => {
      const had = f.pending[server]?.[tool];
      if (had?.hash === held.hash && had.reason === held.reason) return false;
      (f.pending[server] ??= {})[tool] = held;
      return true;
    });
  }

  /**
   * Approves the held definition of `server`/`tool` (every held one of the server when `tool` is
   * undefined). `hash`, when given, must be the held one: an approval names what it approves.
   */
  approve(server: string, tool: string | undefined, hash?: string): { tool: string; hash: string }[] {
    return this.update((f) => {
      const held = f.pending[server] ?? {};
      const names = tool === undefined ? Object.keys(held) : [tool];
      const done: { tool: string; hash: string }[] = [];
      for (const name of names) {
        const p = held[name];
        if (!p) throw new PinStoreError(`nothing from ${server}/${name} is waiting for approval`);
        if (hash !== undefined && p.hash !== hash)
          throw new PinStoreError(`${server}/${name} is waiting with ${p.hash}, not ${hash}`);
        (f.approved[server] ??= {})[name] = { hash: p.hash, at: new Date().toISOString(), by: 'user' };
        delete held[name];
        done.push({ tool: name, hash: p.hash });
      }
      if (Object.keys(held).length === 0) delete f.pending[server];
      return done;
    });
  }

  /** Drops a held definition that matches its pin again (the server reverted). */
  release(server: string, tool: string): void {
    if (this.read().pending[server]?.[tool] === undefined) return;
    this.update((f) => {
      delete f.pending[server]?.[tool];
      if (Object.keys(f.pending[server] ?? {}).length === 0) delete f.pending[server];
    });
  }

  /**
   * The store as it is on disk. Every tool of every listing asks, so the parse is reused while
   * the file's identity, size and change time stay the same (every write renames a new file in).
   * What it returns is shared: read it, never change it (update() parses its own copy).
   */
  private read(): PinFile {
    return this.current().file;
  }

  private current(): { key: string; file: PinFile } {
    const key = this.stat();
    if (key === ABSENT) return { key, file: { version: 1, approved: {}, pending: {} } };
    if (this.cached?.key !== key) this.cached = { key, file: this.parse() };
    return this.cached;
  }

  /** The file's identity, size and change times (ABSENT when there is no file). */
  private stat(): string {
    try {
      const st = statSync(this.file, { bigint: true });
      return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ABSENT;
      throw new PinStoreError(`cannot read the pin store ${this.file}: ${(e as Error).message}`);
    }
  }

  private parse(): PinFile {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, approved: {}, pending: {} };
      throw new PinStoreError(`cannot read the pin store ${this.file}: ${(e as Error).message}`);
    }
    try {
      const parsed = JSON.parse(text) as Partial<PinFile>;
      if (parsed.version !== 1 || typeof parsed.approved !== 'object' || typeof parsed.pending !== 'object')
        throw new Error('not a version 1 pin store');
      return parsed as PinFile;
    } catch (e) {
      // A damaged store approves nothing: every tool is held until the file is fixed or removed.
      throw new PinStoreError(`the pin store ${this.file} is damaged (${(e as Error).message})`);
    }
  }

  private update<T>(change: (f: PinFile) => T): T {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const lock = `${this.file}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    let fd: number | undefined;
    while (fd === undefined) {
      try {
        fd = openSync(lock, 'wx', 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS)
          rmSync(lock, { force: true });
        else if (Date.now() > deadline)
          throw new PinStoreError(`the pin store ${this.file} stays locked (${lock})`);
        else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    try {
      const f = this.parse();
      const result = change(f);
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
      renameSync(tmp, this.file);
      return result;
    } finally {
      closeSync(fd);
      rmSync(lock, { force: true });
    }
  }
}
