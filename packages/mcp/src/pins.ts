// The local pin store: which definitions (tools, prompts, resources, resource templates) the user
// approved (or trusted on first use), and which ones the gateway has seen but may not show yet
// (new, or drifted from their pin), kept with the definition so `perimeter mcp pins list` can show
// the change and `approve` can approve exactly what was seen. One JSON file, replaced whole
// (replaceFile of @perimeter/audit) under a lock file, so a gateway and the CLI never lose each
// other's writes; a gateway writes what one listing changed at once, waiting for the lock on
// timers (applyAsync) so its other clients are served meanwhile, and watches the file for
// approvals made by another process. What it keeps is bounded (redteam-36-2): no definition over
// MAX_DEFINITION_BYTES, no server's entries over MAX_SERVER_BYTES, and the file is written with
// one line per entry, so its size is its entries' and never grows with their depth.

import { mkdirSync, readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { dirname } from 'node:path';
import {
  lockHolder,
  replaceFile,
  withLockAsync,
  withLock,
  type LockOptions,
  type LockRefusal,
} from '@perimeter/audit';
import { escapeUnprintable } from '@perimeter/policy';
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
 * The most a pin store keeps of one definition, in bytes of JSON: 256 KiB, some 64,000 tokens of
 * an agent's context, past any real tool (a large schema with long enums is tens of KiB) and
 * still cheap to read at every listing. A definition whose pinned part is larger is held as too
 * large to pin; its hash is kept, the definition is not (redteam-36-2).
 */
export const MAX_DEFINITION_BYTES = 256 * 1024;

/**
 * The most the entries of one server (its pins, held and last accepted definitions) may take in
 * the pin store: 16 definitions of the largest size. A server's listing that would take more is
 * not written, and only that server's new and changed definitions stay hidden: one server cannot
 * fill the store, nor make it fail for the others (redteam-36-2). The file's size is at most this
 * for each server it names.
 */
export const MAX_SERVER_BYTES = 4 * 1024 * 1024;

/**
 * The command that approves a held definition, its words quoted for a POSIX shell where they need
 * to be. It always names the hash of the definition it was printed for (redteam-36-4): the held
 * definition can change between `pins list` and the paste (an upstream lists again), and a
 * command without it approved whatever was held by then. A key that holds a secret (a resource's
 * URI with a token in it: `redacted` changes it) is not printed: the command names the held
 * definition by its hash alone, which approves exactly the server's definitions held with that
 * hash. `redacted` is the scan the caller prints with (by default @perimeter/detect's
 * high-confidence findings; the gateway's also knows the bound credentials' values).
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
  const positionals = redacted(key) === key ? [server, key] : [server];
  return positionals.some((w) => w.startsWith('-'))
    ? `perimeter mcp pins approve --hash ${word(hash)} -- ${positionals.map(word).join(' ')}`
    : `perimeter mcp pins approve ${positionals.map(word).join(' ')} --hash ${word(hash)}`;
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
  /** The definition as held, redacted; absent when it is too large to keep (`omitted` says so). */
  readonly definition?: Record<string, unknown>;
  /** Why the definition is not kept: it is larger than MAX_DEFINITION_BYTES. */
  readonly omitted?: string;
  /** Held for poisoning findings: approved only by naming its hash (PinStore.approve). */
  readonly quarantined?: boolean;
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
  /** Its pinned part; absent when too large to keep (a drift from it then cannot say what changed). */
  readonly definition?: Record<string, unknown>;
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

/** What PinStore.apply made of a listing's changes. */
export interface PinWrite {
  /** How many changes were made. */
  readonly made: number;
  /** The servers whose changes were not made (they would pass MAX_SERVER_BYTES), with why. */
  readonly refused: ReadonlyMap<string, string>;
}

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
   * none is left the file is not written at all. A server whose entries the changes would take
   * past MAX_SERVER_BYTES keeps its entries as they were (`refused` says why): the other servers'
   * changes are written all the same (redteam-36-2). Waits for the store's lock blocking the
   * thread: for a caller that does nothing else meanwhile (the CLI, a test); a gateway uses
   * applyAsync.
   */
  apply(changes: readonly PinChange[]): PinWrite {
    const write = this.listingWrite(changes);
    return write === undefined ? NOTHING_WRITTEN : this.update(write, isWritten);
  }

  /**
   * apply, waiting for the store's lock on timers (as long, with the same refusal): a gateway
   * serves its other clients while `pins approve` or another gateway holds the store, where a
   * blocked thread stalled every call for up to 5 s. Writes of this process wait for each other
   * the same way, one at a time.
   */
  async applyAsync(changes: readonly PinChange[]): Promise<PinWrite> {
    const write = this.listingWrite(changes);
    return write === undefined ? NOTHING_WRITTEN : this.updateAsync(write, isWritten);
  }

  /**
   * What apply and applyAsync make of the file under the lock, or undefined when none of
   * `changes` would change the store as it is now.
   */
  private listingWrite(changes: readonly PinChange[]): StoreChange<PinWrite> | undefined {
    const current = this.read();
    const effective = changes.filter((c) => isEffective(current, c));
    if (effective.length === 0) return undefined;
    const byServer = new Map<string, PinChange[]>();
    for (const c of effective) {
      const theirs = byServer.get(c.server);
      if (theirs === undefined) byServer.set(c.server, [c]);
      else theirs.push(c);
    }
    return (f, size) => {
      let made = 0;
      const refused = new Map<string, string>();
      for (const [server, theirs] of byServer) {
        const was = entriesOf(f, server);
        // Changes that shrink a server already over (a release, a file from before the bound) go through.
        const bound = Math.max(size(server, Infinity), MAX_SERVER_BYTES);
        const count = theirs.filter((c) => applyChange(f, c)).length;
        const after = size(server, bound);
        if (after > bound) {
          restoreEntries(f, server, was);
          refused.set(
            server,
            `the definitions of ${server} would take more than the ${sizeText(MAX_SERVER_BYTES)} of the pin store one server may; what of them is new or changed stays hidden`,
          );
        } else made += count;
      }
      return { made, refused };
    };
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
   *
   * redteam-36-4: without `hash`, what is approved is what is held when it runs, which an upstream
   * can replace after the person looked. That stays a convenience for what a person may approve
   * on sight of its key, but a definition quarantined for poisoning, or one too large to keep for
   * review, is approved only by the hash of what was reviewed: refused without it.
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
        const why = hash === undefined ? approvedOnlyByHash(p) : undefined;
        // All of a server is approved whole or not at all: the refusal says so first.
        if (why !== undefined)
          throw new PinStoreError(
            `${key === undefined ? `nothing of ${server} was approved: ` : ''}${server}/${shownKey(name, p)} is ${why}, so only its hash approves it: review it with "perimeter mcp pins list", and if it shows ${p.hash} and you accept that, run ${approveCommand(server, name, p.hash, (k) => escapeUnprintable(shownKey(k, p)))}`,
            'request',
          );
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
   * a writer waits up to `lockWaitMs` while a live process holds it, and takes over only a lock
   * whose process is gone. Breaking a slow writer's lock by its age let two writers rename a file
   * each, the second without the first's change: an approval lost. This one blocks the thread while
   * it waits (withLock); updateAsync waits on timers. Both run `rewrite` once the lock is theirs.
   */
  private update<T>(change: StoreChange<T>, isChanged: (result: T) => boolean = () => true): T {
    return withLock(this.lockFile(), this.lockOptions(), () => this.rewrite(change, isChanged));
  }

  /**
   * update, the lock waited for on timers (withLockAsync), a holder in this process too; the file
   * is rewritten in the turn the lock is taken.
   */
  private updateAsync<T>(change: StoreChange<T>, isChanged: (result: T) => boolean): Promise<T> {
    return withLockAsync(this.lockFile(), this.lockOptions(), () => this.rewrite(change, isChanged));
  }

  /** The store's lock file, its directory made first (a first write makes the store's). */
  private lockFile(): string {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    return `${this.file}.lock`;
  }

  private lockOptions(): LockOptions & { readonly refuse: (r: LockRefusal) => PinStoreError } {
    return { waitMs: this.lockWaitMs, refuse: (r) => new PinStoreError(lockRefusal(this.file, r), 'lock') };
  }

  /**
   * The read, change and replace of one write, in one turn, under the lock the caller holds: the
   * file as it is now (never the cached parse), `change` applied, and the file replaced unless
   * `isChanged` says nothing changed.
   */
  private rewrite<T>(change: StoreChange<T>, isChanged: (result: T) => boolean): T {
    const f = this.parse();
    // Each entry is serialised once, to be measured and then written.
    const texts = new WeakMap<object, string>();
    const text = (entry: object): string => {
      let t = texts.get(entry);
      if (t === undefined) texts.set(entry, (t = JSON.stringify(entry)));
      return t;
    };
    try {
      const result = change(f, (server, stopAt) => serverBytes(f, server, text, stopAt));
      if (!isChanged(result)) return result;
      // A reader sees the old file or the new one, and a crash leaves one whole (an empty
      // store would approve nothing); a failed write leaves the old one.
      replaceFile(this.file, fileText(f, text));
      return result;
    } catch (e) {
      // Whatever else stops the write (a full disk, a value that cannot be serialised) is the
      // store's fault, said as such: the gateway then holds what rested on it, and no more.
      if (e instanceof PinStoreError) throw e;
      throw new PinStoreError(`cannot write the pin store ${this.file}: ${(e as Error).message}`);
    }
  }
}

/**
 * One write's change to the file as read under the lock (`size`: a server's entries in bytes, up
 * to `stopAt`), and what it returns.
 */
type StoreChange<T> = (f: PinFile, size: (server: string, stopAt: number) => number) => T;

const NOTHING_WRITTEN: PinWrite = { made: 0, refused: new Map() };

function isWritten(w: PinWrite): boolean {
  return w.made > 0;
}

/** Why the store could not be locked, in one sentence. */
function lockRefusal(file: string, r: LockRefusal): string {
  switch (r.kind) {
    case 'held': {
      const { who, isOutOfSight } = lockHolder(r);
      return `the pin store ${file} stays locked by ${who}; try again once it is done${isOutOfSight ? `, or remove ${r.file} if it has stopped` : ''}`;
    }
    case 'unusable':
      return `cannot lock the pin store ${file}: cannot create ${r.file} (${r.code}); make its directory writable`;
    case 'unsettled':
      return `the pin store ${file} could not be locked: its lock ${r.file} kept changing`;
  }
}

/**
 * The file's text: its sections and servers one per line, each entry on one line of compact JSON.
 * JSON.stringify(f, null, 2) put every value of a nested list on a line of its own, indented by
 * its depth: a list of 4.5 million zeros 55 deep became more text than a string can hold
 * (redteam-36-2), and smaller ones hundreds of MB.
 */
function fileText(f: PinFile, text: (entry: object) => string): string {
  const block = (members: readonly string[], indent: string): string =>
    members.length === 0 ? '{}' : `{\n${members.map((m) => `${indent}  ${m}`).join(',\n')}\n${indent}}`;
  const section = (byServer: Readonly<Record<string, Readonly<Record<string, object>>>>): string =>
    block(
      Object.entries(byServer).map(
        ([server, byKey]) =>
          `${JSON.stringify(server)}: ${block(
            Object.entries(byKey).map(([key, entry]) => `${JSON.stringify(key)}: ${text(entry)}`),
            '    ',
          )}`,
      ),
      '  ',
    );
  const sections = [
    `"version": ${JSON.stringify(f.version)}`,
    `"approved": ${section(f.approved)}`,
    `"pending": ${section(f.pending)}`,
    ...(f.known !== undefined ? [`"known": ${section(f.known)}`] : []),
  ];
  return `${block(sections, '')}\n`;
}

/**
 * The bytes the entries of `server` take in the file (MAX_SERVER_BYTES bounds them), counted until
 * they pass `stopAt`: a server's listing can hold 10,000 definitions, whose text is not made
 * once it is clear they cannot all be kept.
 */
function serverBytes(f: PinFile, server: string, text: (entry: object) => string, stopAt: number): number {
  let bytes = 0;
  const sections: readonly Readonly<Record<string, Readonly<Record<string, object>>>>[] = [
    f.approved,
    f.pending,
    f.known ?? {},
  ];
  for (const section of sections)
    for (const [key, entry] of Object.entries(section[server] ?? {})) {
      bytes += Buffer.byteLength(key) + Buffer.byteLength(text(entry)) + 8;
      if (bytes > stopAt) return bytes;
    }
  return bytes;
}

type Entries = readonly [ApprovedEntries, PendingEntries, KnownEntries];
type ApprovedEntries = Record<string, ApprovedPin> | undefined;
type PendingEntries = Record<string, PendingDefinition> | undefined;
type KnownEntries = Record<string, KnownDefinition> | undefined;

/** A copy of the entries of `server`, to put back if its changes are refused (a change replaces entries, never edits one). */
function entriesOf(f: PinFile, server: string): Entries {
  const copy = <E>(byKey: Record<string, E> | undefined): Record<string, E> | undefined =>
    byKey === undefined ? undefined : { ...byKey };
  return [copy(f.approved[server]), copy(f.pending[server]), copy(f.known?.[server])];
}

function restoreEntries(f: PinFile, server: string, [approved, pending, known]: Entries): void {
  const put = <E>(section: Record<string, Record<string, E>>, byKey: Record<string, E> | undefined): void => {
    if (byKey === undefined) delete section[server];
    else section[server] = byKey;
  };
  put(f.approved, approved);
  put(f.pending, pending);
  if (f.known !== undefined) put(f.known, known);
}

/** A size as the pin store's messages say it: `4 MiB`, `256 KiB`, `9.1 MiB`. */
function sizeText(bytes: number): string {
  const [unit, size] = bytes >= 1024 * 1024 ? ['MiB', bytes / (1024 * 1024)] : ['KiB', bytes / 1024];
  return `${Number.isInteger(size) ? size : size.toFixed(1)} ${unit}`;
}

/**
 * Why a held definition is approved only by its hash (PinStore.approve), or undefined: quarantined
 * (a store written before `quarantined` was kept says so in its reason), or not kept for review.
 */
function approvedOnlyByHash(p: PendingDefinition): string | undefined {
  if (p.quarantined === true || p.reason.startsWith('quarantined')) return 'quarantined';
  if (p.definition === undefined) return 'too large to keep for review';
  return undefined;
}

/**
 * A definition as the store keeps it: one larger than MAX_DEFINITION_BYTES as JSON is left out,
 * and `omitted` says why (the gateway leaves out one whose pinned part is; this bounds the rest,
 * `_meta` and all).
 */
function kept<E extends { readonly definition?: Record<string, unknown> }>(entry: E): E {
  if (entry.definition === undefined) return entry;
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(entry.definition));
  } catch {
    bytes = Infinity; // more than a string can hold
  }
  if (bytes <= MAX_DEFINITION_BYTES) return entry;
  const { definition: _definition, ...rest } = entry;
  return { ...rest, omitted: tooLargeText(bytes) } as unknown as E;
}

/** Why a definition of `bytes` is not kept. */
export function tooLargeText(bytes: number): string {
  return `its definition is ${Number.isFinite(bytes) ? sizeText(bytes) : 'larger than a string can hold'} as JSON, more than the ${sizeText(MAX_DEFINITION_BYTES)} the pin store keeps of one; review it at its source`;
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
    case 'remember': {
      // A known definition is only for diffs: a large one is kept by its hash alone.
      const known = kept(c.known);
      ((f.known ??= {})[c.server] ??= {})[c.key] =
        known.definition === undefined ? { hash: known.hash } : known;
      break;
    }
    case 'hold':
      (f.pending[c.server] ??= {})[c.key] = kept(c.held);
      break;
    case 'release':
      delete f.pending[c.server]?.[c.key];
      if (Object.keys(f.pending[c.server] ?? {}).length === 0) delete f.pending[c.server];
      break;
  }
  return true;
}
