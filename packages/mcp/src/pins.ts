// The local pin store: which definitions (tools, prompts, resources, resource templates) the user
// approved (or trusted on first use), and which ones the gateway has seen but may not show yet
// (new, or drifted from their pin), kept with the definition so `perimeter mcp pins list` can show
// the change and `approve` can approve exactly what was seen. One JSON file, written whole through
// a temporary file and rename under a lock file, so a gateway and the CLI never lose each other's
// writes; a gateway writes what one listing changed at once, and watches the file for approvals
// made by another process.

import {
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unwatchFile,
  watchFile,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { withLock, type LockRefusal } from '@perimeter/audit';
import type { DefinitionKind } from './definition.js';
import { scanValue } from './secrets.js';

/**
 * The key of a definition in the store, in `perimeter mcp pins approve SERVER KEY` and in a
 * policy's `pins:`: a tool's name, `prompt:NAME`, `resource:URI` or `template:URI_TEMPLATE`. Tools
 * keep their bare names (pins written before prompts and resources were pinned stay valid); a tool
 * name never holds ":" once it is pinned, since a name outside the client rule is held first.
 */
export function pinKey(kind: DefinitionKind, definition: Readonly<Record<string, unknown>>): string {
  switch (kind) {
    case 'tools':
      return String(definition.name);
    case 'prompts':
      return `prompt:${String(definition.name)}`;
    case 'resources':
      return `resource:${String(definition.uri)}`;
    case 'templates':
      return `template:${String(definition.uriTemplate)}`;
  }
}

/**
 * The command that approves a held definition, its words quoted for a POSIX shell where they need
 * to be. A key that holds a secret (a resource's URI with a token in it: `redacted` changes it) is
 * not printed: the command names the held definition by its hash instead, which approves exactly
 * the server's definitions held with that hash. `redacted` is the scan the caller prints with (by
 * default @perimeter/detect's high-confidence findings; the gateway's also knows the bound
 * credentials' values).
 *
 * redteam-31-2: an upstream names its tools, and a name may start with "-". Quoting does not help
 * (the shell removes the quotes, the CLI still reads an option), and a tool named `--` printed
 * bare ended the options and left no key: `approve s --` approved every held definition of `s`,
 * a quarantined one included. So a server or key that starts with "-" comes after `--`, which
 * makes every word after it a positional; `--hash` goes before it.
 */
export function approveCommand(
  server: string,
  key: string,
  hash: string,
  redacted: (text: string) => string = withoutSecrets,
): string {
  const word = (w: string): string => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);
  const positionals = (...words: string[]): string =>
    `${words.some((w) => w.startsWith('-')) ? '-- ' : ''}${words.map(word).join(' ')}`;
  if (redacted(key) === key) return `perimeter mcp pins approve ${positionals(server, key)}`;
  return server.startsWith('-')
    ? `perimeter mcp pins approve --hash ${word(hash)} ${positionals(server)}`
    : `perimeter mcp pins approve ${word(server)} --hash ${word(hash)}`;
}

/**
 * A value as `perimeter mcp pins list` may print it: every string in it (object keys included)
 * with each high-confidence secret replaced by `[REDACTED:rule:fingerprint]` (secrets.ts).
 */
export function withoutSecrets<T>(value: T): T {
  return scanValue(value).redacted as T;
}

/**
 * A key as `perimeter mcp pins list` and `approve` print it: the gateway's redaction of it when
 * the gateway recorded one (its scan also knows the bound credentials' values, which the CLI
 * never reads), then the detectors'.
 */
export function shownKey(key: string, entry: { readonly label?: string } | undefined): string {
  return withoutSecrets(entry?.label ?? key);
}

/**
 * The store's approvals and held definitions as `pins list --json` prints them: keyed as shownKey
 * shows the keys, every string redacted.
 */
export function printablePins(snapshot: PinListing): PinListing {
  return withoutSecrets({ approved: byShownKey(snapshot.approved), pending: byShownKey(snapshot.pending) });
}

function byShownKey<E extends { readonly label?: string }>(
  entries: Readonly<Record<string, Readonly<Record<string, E>>>>,
): Record<string, Record<string, E>> {
  const shown = (byKey: Readonly<Record<string, E>>): Record<string, E> =>
    Object.fromEntries(
      Object.entries(byKey).map(([key, entry]) => {
        const { label: _label, ...rest } = entry;
        return [shownKey(key, entry), rest as E];
      }),
    );
  return Object.fromEntries(Object.entries(entries).map(([server, byKey]) => [server, shown(byKey)]));
}

export interface ApprovedPin {
  readonly hash: string;
  readonly at: string;
  /** `tofu`: trusted on first use; `user`: approved with `perimeter mcp pins approve`. */
  readonly by: 'tofu' | 'user';
  /** Who approved it (`by: 'user'`): the login name of the account that ran `pins approve`. */
  readonly user?: string;
  /** The key as the gateway shows it, where its scan redacted something in it (shownKey). */
  readonly label?: string;
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
  /** The key as the gateway shows it, where its scan redacted something in it (shownKey). */
  readonly label?: string;
}

/** The last definition accepted under a key (it matched its pin): what a drift is compared with. */
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

/** Every approved pin and every held definition, by server and key. */
export interface PinListing {
  readonly approved: Readonly<Record<string, Readonly<Record<string, ApprovedPin>>>>;
  readonly pending: Readonly<Record<string, Readonly<Record<string, PendingDefinition>>>>;
}

/** The whole store at one moment, for many look-ups from one read (a listing reads it once). */
export interface PinView {
  /** Which version of the file this is: it changes with every write, by anyone. */
  readonly version: string;
  readonly approved: Readonly<Record<string, Readonly<Record<string, ApprovedPin>>>>;
  readonly pending: Readonly<Record<string, Readonly<Record<string, PendingDefinition>>>>;
  readonly known: Readonly<Record<string, Readonly<Record<string, KnownDefinition>>>>;
}

/** One change a listing makes, applied with the others of the listing in one write (PinStore.apply). */
export type PinChange =
  /** Trust on first use: pin this hash, unless something is pinned already. */
  | {
      readonly op: 'trust';
      readonly server: string;
      readonly key: string;
      readonly hash: string;
      readonly label?: string;
    }
  /** Remember the definition that matched its pin. */
  | {
      readonly op: 'remember';
      readonly server: string;
      readonly key: string;
      readonly known: KnownDefinition;
    }
  /** Hold a definition back (replaces what was held under the key). */
  | { readonly op: 'hold'; readonly server: string; readonly key: string; readonly held: PendingDefinition }
  /** Drop what is held under the key: the definition matches its pin again. */
  | { readonly op: 'release'; readonly server: string; readonly key: string };

export class PinStoreError extends Error {
  /**
   * `fault`: what must change for the operation to go through. 'request': the store is fine, the
   * request is not (nothing is waiting, a wrong hash); 'store': the store itself cannot be used
   * (unreadable, damaged); 'lock': another process holds the store, or its lock cannot be made
   * (the message says what to do; the store is fine).
   */
  constructor(
    message: string,
    readonly fault: 'request' | 'store' | 'lock' = 'store',
  ) {
    super(message);
  }
}

/** How long a write waits for another process that holds the store's lock. */
const LOCK_WAIT_MS = 5_000;
/** The version of a store that does not exist yet. */
const ABSENT = 'absent';

export class PinStore {
  /** The file as last parsed, with the stat that identifies that version of it. */
  private cached: { key: string; file: PinFile } | undefined;

  /** `lockWaitMs`: how long a write waits while another live process writes the store. */
  constructor(
    readonly file: string,
    private readonly lockWaitMs = LOCK_WAIT_MS,
  ) {}

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
  snapshot(): PinListing {
    const { approved, pending } = this.read();
    return { approved, pending };
  }

  /**
   * Makes the changes of one listing in one write; those that would change nothing (a definition
   * held already as it is, one remembered already, a pin already there) are left out, and when
   * none is left the file is not written at all. Returns how many changes were made.
   */
  apply(changes: readonly PinChange[]): number {
    const current = this.read();
    const effective = changes.filter((c) => isEffective(current, c));
    if (effective.length === 0) return 0;
    return this.update((f) => {
      let made = 0;
      for (const c of effective) if (applyChange(f, c)) made++;
      return made;
    });
  }

  /**
   * Calls `onChange` when the file may have changed on disk, whoever wrote it (`pins approve` in
   * another process renames a new file in). Polls the file's status every `intervalMs`, which
   * works whether or not the file or its directory exists yet, and keeps no process alive.
   * Returns the function that stops watching.
   */
  watch(onChange: () => void, intervalMs = 500): () => void {
    const listener = (): void => onChange();
    watchFile(this.file, { persistent: false, interval: intervalMs }, listener);
    return () => unwatchFile(this.file, listener);
  }

  /**
   * Approves the held definition of `server`/`key`; `hash`, when given, must be the held one: an
   * approval names what it approves. Without a key: every held definition of the server, or with
   * `hash` exactly those held with that hash (what `approveCommand` prints for a key that holds a
   * secret), at least one. A server the store has never heard of is refused, as a key it does
   * not hold is (a typo, or another state directory's server): not "nothing to do". `user` is who
   * approves, kept with the pin and told to the audit of a gateway running then.
   */
  approve(
    server: string,
    key: string | undefined,
    hash?: string,
    user?: string,
  ): { tool: string; hash: string; label?: string }[] {
    return this.update((f) => {
      if (f.approved[server] === undefined && f.pending[server] === undefined)
        throw new PinStoreError(`the pin store knows no server named ${server}`, 'request');
      const held = f.pending[server] ?? {};
      const names =
        key !== undefined
          ? [key]
          : Object.keys(held).filter((name) => hash === undefined || held[name]?.hash === hash);
      if (key === undefined && hash !== undefined && names.length === 0)
        throw new PinStoreError(`nothing from ${server} is waiting for approval with ${hash}`, 'request');
      const done: { tool: string; hash: string; label?: string }[] = [];
      for (const name of names) {
        const p = held[name];
        if (!p) throw new PinStoreError(`nothing from ${server}/${name} is waiting for approval`, 'request');
        if (hash !== undefined && p.hash !== hash)
          throw new PinStoreError(`${server}/${name} is waiting with ${p.hash}, not ${hash}`, 'request');
        const label = p.label !== undefined ? { label: p.label } : {};
        (f.approved[server] ??= {})[name] = {
          hash: p.hash,
          at: new Date().toISOString(),
          by: 'user',
          ...(user !== undefined ? { user } : {}),
          ...label,
        };
        delete held[name];
        done.push({ tool: name, hash: p.hash, ...label });
      }
      if (Object.keys(held).length === 0) delete f.pending[server];
      return done;
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

  /**
   * Reads, changes and replaces the file under the store's lock (process-lock of @perimeter/audit):
   * a writer waits while a live process holds it, however long, and takes over only a lock whose
   * process is gone. Breaking a slow writer's lock by its age let two writers rename a file each,
   * the second without the first's change: an approval lost.
   */
  private update<T>(change: (f: PinFile) => T): T {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    return withLock(
      `${this.file}.lock`,
      { waitMs: this.lockWaitMs, refuse: (r) => new PinStoreError(lockRefusal(this.file, r), 'lock') },
      () => {
        const f = this.parse();
        const result = change(f);
        const tmp = `${this.file}.${process.pid}.tmp`;
        writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
        renameSync(tmp, this.file);
        return result;
      },
    );
  }
}

/** Why the store could not be locked, in one sentence. */
function lockRefusal(file: string, r: LockRefusal): string {
  switch (r.kind) {
    case 'held':
      return r.holder === 'another-machine'
        ? `the pin store ${file} stays locked by a Perimeter process on ${r.owner.host} (pid ${r.owner.pid}); try again once it is done, or remove ${r.file} if it has stopped`
        : r.holder === 'another-pid-namespace'
          ? `the pin store ${file} stays locked by a Perimeter process in another pid namespace, a sandbox or a container (pid ${r.owner.pid} there); try again once it is done, or remove ${r.file} if it has stopped`
          : `the pin store ${file} stays locked by another Perimeter process (pid ${r.owner.pid}); try again once it is done`;
    case 'unusable':
      return `cannot lock the pin store ${file}: cannot create ${r.file} (${r.code}); make its directory writable`;
    case 'unsettled':
      return `the pin store ${file} could not be locked: its lock ${r.file} kept changing`;
  }
}

/** Whether a change would change the file as it is. */
function isEffective(f: PinFile, c: PinChange): boolean {
  switch (c.op) {
    case 'trust':
      return f.approved[c.server]?.[c.key] === undefined;
    case 'remember':
      return f.known?.[c.server]?.[c.key]?.hash !== c.known.hash;
    case 'hold': {
      const was = f.pending[c.server]?.[c.key];
      return was?.hash !== c.held.hash || was.reason !== c.held.reason;
    }
    case 'release':
      return f.pending[c.server]?.[c.key] !== undefined;
  }
}

/** Makes one change to a file being written; false when it changed nothing (someone did it first). */
function applyChange(f: PinFile, c: PinChange): boolean {
  if (!isEffective(f, c)) return false;
  switch (c.op) {
    case 'trust':
      (f.approved[c.server] ??= {})[c.key] = {
        hash: c.hash,
        at: new Date().toISOString(),
        by: 'tofu',
        ...(c.label !== undefined ? { label: c.label } : {}),
      };
      break;
    case 'remember':
      ((f.known ??= {})[c.server] ??= {})[c.key] = c.known;
      break;
    case 'hold':
      (f.pending[c.server] ??= {})[c.key] = c.held;
      break;
    case 'release':
      delete f.pending[c.server]?.[c.key];
      if (Object.keys(f.pending[c.server] ?? {}).length === 0) delete f.pending[c.server];
      break;
  }
  return true;
}
