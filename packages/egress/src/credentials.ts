// Credentials on the way out: the one place where a request is checked for secrets and where a
// placeholder becomes the real value (research egress §5.2, §12.4). Both the plain-HTTP forward
// path and intercepted HTTPS call `inspect`; responses to a request that carried a real value go
// through `scrubber`, so the value the server echoes back reaches the agent as its placeholder.
//
// The rules, in order: a real value in a request is a leak (refused, whatever the destination); a
// placeholder headed anywhere but its binding is an exfiltration attempt (refused); a placeholder
// is replaced only over TLS the proxy verified upstream, only toward a destination the policy
// binds the credential to, and only in the header the binding names (or, for bindings that say
// `anywhere`, everywhere but the headers servers reflect); what `detect` finds is refused,
// redacted or recorded as the policy says.

import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { alertRecord, decisionRecord, type AuditRecord } from '@perimeter/audit';
import {
  MIN_KNOWN_LENGTH,
  encodingPhrase,
  knownMatcher,
  redact,
  renderingsOf,
  scan,
  scanHost,
  scanJoined,
  type KnownHit,
  type KnownMatcher,
} from '@perimeter/detect';
import type { Decision, Engine } from '@perimeter/policy';

/** One credential binding of the session, with its real value (host memory only). */
export interface CredentialSlot {
  /** The binding's rule id, as audit names it. */
  readonly id: string;
  /** The secret's name in the store. */
  readonly secret: string;
  readonly value: string;
  /** What the agent holds instead (pmtr_ph_…): random per session and per binding. */
  readonly placeholder: string;
  readonly inject?: {
    /** Lower-case header name. */
    readonly header: string;
    readonly format: string;
    readonly anywhere: boolean;
  };
  /** The agent holds the placeholder (in an env var or a file); otherwise the proxy adds the header. */
  readonly isHeldByAgent: boolean;
}

/** What the proxy does with a finding of `detect` in a request. */
export type DlpAction = 'block' | 'redact' | 'audit';

export interface HttpHead {
  readonly method: string;
  /** origin-form (`/path?query`) for intercepted HTTPS, absolute-form for plain HTTP. */
  readonly target: string;
  /** Header name/value pairs as received (names in any case; repeated names kept). */
  readonly headers: readonly (readonly [string, string])[];
}

export interface Destination {
  /** Canonical host name (or IP literal) and port. */
  readonly host: string;
  readonly port: number;
  /** The request travels over TLS that this proxy terminated and verified upstream. */
  readonly isVerifiedTls: boolean;
}

export interface Inspection {
  /** Set when the request must not go out: the status and the reason the agent is told. */
  readonly refusal?: { readonly status: number; readonly reason: string };
  /** The request to send (values injected, findings redacted). */
  readonly head: HttpHead;
  readonly body: Buffer;
  /** Slots whose real value went out: their renderings are scrubbed from the response. */
  readonly injected: readonly CredentialSlot[];
}

/** A host name refused by checkHost. */
export interface HostRefusal {
  /** The sentence the client is told (it never quotes the name). */
  readonly reason: string;
  /** The name as the audit may show it: what was found in it replaced by `***` (redactedHost). */
  readonly shown: string;
}

export interface CredentialGuardOptions {
  readonly engine: Engine;
  readonly slots: readonly CredentialSlot[];
  readonly dlp?: DlpAction;
  readonly audit?: (record: AuditRecord) => void;
  readonly sessionId?: string;
}

export interface CredentialGuard {
  inspect(head: HttpHead, body: Buffer, destination: Destination): Inspection;
  /**
   * Why a host name must not be looked up or dialled: a real value, a placeholder or a secret
   * found in its labels (audited here). `host` as the client wrote it: case carries checksums.
   */
  checkHost(host: string, port: number): HostRefusal | undefined;
  /** A stream that replaces the injected values' renderings by their placeholders' renderings. */
  scrubber(injected: readonly CredentialSlot[]): Transform;
  /** Rewrites one response header value the same way. */
  scrubText(text: string, injected: readonly CredentialSlot[]): string;
}

/**
 * Headers servers and CDNs echo back (Cloudflare's /cdn-cgi/trace reflects User-Agent, CORS
 * reflects Origin): a placeholder there is never replaced, even for `anywhere` bindings.
 */
const REFLECTED = new Set([
  'host',
  'user-agent',
  'referer',
  'origin',
  'from',
  'forwarded',
  'via',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-request-id',
  'x-correlation-id',
  'traceparent',
  'tracestate',
  'accept',
  'accept-language',
  'accept-encoding',
  'if-none-match',
  'if-match',
  'cache-control',
]);

const PLACEHOLDER_PREFIX = 'pmtr_ph_';
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A fresh placeholder: a fixed prefix and 26 random base62 characters (over 150 bits). */
export function makePlaceholder(): string {
  let out = PLACEHOLDER_PREFIX;
  // Rejection sampling keeps every character equally likely.
  while (out.length < PLACEHOLDER_PREFIX.length + 26) {
    for (const byte of randomBytes(32)) {
      if (byte < 248 && out.length < PLACEHOLDER_PREFIX.length + 26) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** Where a value travels in a request, as audit names it: `header:authorization`, `basic:password`. */
type Location = string;

function replaceAll(text: string, from: string, to: string): string {
  return text.split(from).join(to);
}

/** A string's UTF-8 bytes read as latin1: how Node hands over request bodies and header values. */
const latin1 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/**
 * A host name as the audit may keep it: every span of it (a value, a placeholder or a secret found
 * there) replaced by `***`, a run of overlapping or touching spans by one. A name whose lower-case
 * form has another length (no offset can be trusted) is `***` whole.
 */
export function redactedHost(host: string, spans: readonly { start: number; end: number }[]): string {
  if (host.toLowerCase().length !== host.length) return '***';
  const hidden = new Array<boolean>(host.length).fill(false);
  for (const { start, end } of spans)
    for (let i = Math.max(0, start); i < Math.min(host.length, end); i++) hidden[i] = true;
  let out = '';
  for (let i = 0; i < host.length; i++) {
    if (!hidden[i]) out += host[i] ?? '';
    else if (i === 0 || !hidden[i - 1]) out += '***';
  }
  return out;
}

export function createCredentialGuard(options: CredentialGuardOptions): CredentialGuard {
  const ctx = { sessionId: options.sessionId ?? 'proxy' };
  const audit = (record: AuditRecord): void => options.audit?.(record);
  const dlp = options.dlp ?? 'block';
  const slots = options.slots;
  const bySlotId = new Map(slots.map((s) => [s.id, s]));
  // Bodies and header values are read as latin1, so a value beyond ASCII is matched in its latin1
  // form too (its UTF-8 bytes); its other renderings (base64, hex, percent, \u) are ASCII either way.
  const both = (pick: (s: CredentialSlot) => string): KnownMatcher =>
    knownMatcher(
      slots.flatMap((s) => {
        const value = pick(s);
        const bytes = latin1(value);
        return bytes === value
          ? [{ id: s.id, value }]
          : [
              { id: s.id, value },
              { id: s.id, value: bytes },
            ];
      }),
    );
  const values: KnownMatcher = both((s) => s.value);
  const placeholders: KnownMatcher = both((s) => s.placeholder);
  const placeholderValues = slots.map((s) => s.placeholder);
  // Host names are case-insensitive: clients and resolvers may lower-case what the agent wrote.
  const lowered = (pick: (s: CredentialSlot) => string): KnownMatcher =>
    knownMatcher(slots.map((s) => ({ id: s.id, value: pick(s).toLowerCase() })));
  const hostValues = lowered((s) => s.value);
  const hostPlaceholders = lowered((s) => s.placeholder);

  /**
   * The policy's credential decision for this slot toward the destination, when the slot injects
   * at all; it binds when it allows through this slot's own rule.
   */
  function bindingDecision(
    slot: CredentialSlot,
    d: Destination,
  ): { decision: Decision; isBound: boolean } | undefined {
    if (slot.inject === undefined) return undefined;
    const decision = options.engine.decide(credentialRequest(slot, d));
    return {
      decision,
      isBound: decision.decision === 'allow' && decision.rules.some((r) => r.rule === slot.id),
    };
  }

  const credentialRequest = (slot: CredentialSlot, d: Destination) =>
    ({ surface: 'credential', secret: slot.secret, host: d.host, port: d.port }) as const;

  function leak(
    type: string,
    severity: 'high' | 'critical',
    slot: CredentialSlot,
    d: Destination,
    reason: string,
    encoding: string,
  ): { status: number; reason: string } {
    audit(
      alertRecord(type, ctx, severity, reason, {
        credential: slot.id,
        secret: slot.secret,
        destination: `${d.host}:${d.port}`,
        encoding,
      }),
    );
    return { status: 403, reason };
  }

  function inspect(head: HttpHead, body: Buffer, d: Destination): Inspection {
    const bodyText = body.toString('latin1');
    const parts = [head.target, ...head.headers.map(([k, v]) => `${k}: ${v}`), bodyText];
    const text = parts.join('\n');
    const refuse = (refusal: { status: number; reason: string }): Inspection => ({
      refusal,
      head,
      body,
      injected: [],
    });

    // 1. A real value: the agent was never given one, so this is a leak, wherever it is headed.
    const real = values.find(text)[0];
    const realSlot = real ? bySlotId.get(real.id) : undefined;
    if (real && realSlot) {
      return refuse(
        leak(
          'credential.leak',
          'critical',
          realSlot,
          d,
          `Refused: this request carries the real value of credential "${realSlot.id}" (${encodingPhrase(real.encoding)}); a session only ever holds its placeholder.`,
          real.encoding,
        ),
      );
    }

    // 2. Placeholders: each must be headed to its binding, over verified TLS.
    const decisions = new Map<CredentialSlot, Decision>();
    const placed = placeholders.find(text);
    for (const hit of placed) {
      const slot = bySlotId.get(hit.id);
      if (slot === undefined || decisions.has(slot)) continue;
      if (!d.isVerifiedTls) {
        return refuse(
          leak(
            'credential.exfiltration',
            'high',
            slot,
            d,
            `Refused: the placeholder of credential "${slot.id}" is put in place only over HTTPS, never sent over plain HTTP (${d.host}:${d.port}).`,
            hit.encoding,
          ),
        );
      }
      const binding = bindingDecision(slot, d);
      if (!binding?.isBound) {
        if (binding && binding.decision.decision !== 'allow')
          audit(decisionRecord(binding.decision, credentialRequest(slot, d), ctx));
        return refuse(
          leak(
            'credential.exfiltration',
            'high',
            slot,
            d,
            `Refused: the placeholder of credential "${slot.id}" may only go to the destinations it is bound to, not ${d.host}:${d.port}.`,
            hit.encoding,
          ),
        );
      }
      decisions.set(slot, binding.decision);
    }

    // Both lists are in order of position: one walk over `placed` serves every finding (a search
    // of it per finding would make a body of many of both quadratic).
    let next = 0;
    const isOverPlaceholder = (f: { readonly start: number; readonly end: number }): boolean => {
      while ((placed[next]?.end ?? Infinity) <= f.start) next++;
      const p = placed[next];
      return p !== undefined && p.start < f.end;
    };
    // 3. What detect finds. Placeholders are ours and never count: detect leaves out a finding over
    // one, in the text or in the decoded layer it found it in (another secret encoded beside it
    // still counts: egress-dlp-07); a finding in the text itself over a placeholder's rendering
    // (its base64, say) is dropped here.
    const findings = [
      ...scan(text, { decode: true, except: placeholderValues }).filter(
        (f) => f.encoding !== undefined || !isOverPlaceholder(f),
      ),
      // A secret cut into pieces across query parameters or headers (egress-dlp-05).
      ...[queryValues(head.target), head.headers.map(([, v]) => v)].flatMap((parts) =>
        scanJoined(parts).filter((f) => f.firstPart !== f.lastPart),
      ),
    ];
    let out: HttpHead = head;
    let outBody = body;
    for (const f of findings) {
      const where = `${d.host}:${d.port}`;
      // A secret cut across parts cannot be redacted in place: under redact it is refused too.
      const isJoined = 'firstPart' in f;
      const isBlocking = f.confidence === 'high' && (dlp === 'block' || (dlp === 'redact' && isJoined));
      audit(
        alertRecord(
          'network.secret',
          ctx,
          f.confidence === 'high' ? 'high' : 'low',
          `${isBlocking ? 'Refused' : dlp === 'redact' && f.confidence === 'high' ? 'Redacted' : 'Seen'}: a ${f.family} secret (${f.rule}, ${f.fingerprint}) in a request to ${where}.`,
          { rule: f.rule, family: f.family, fingerprint: f.fingerprint, destination: where, action: dlp },
        ),
      );
      if (isBlocking) {
        return refuse({
          status: 403,
          reason: `Refused: the request to ${where} carries what looks like a ${f.family} secret (${f.rule}, ${f.fingerprint}).`,
        });
      }
    }
    if (dlp === 'redact' && findings.some((f) => f.confidence === 'high')) {
      out = redactHead(out);
      outBody = Buffer.from(redactText(outBody.toString('latin1')), 'latin1');
    }

    // 4. Injection.
    const injected: CredentialSlot[] = [];
    // Bindings the agent holds nothing for are set by the proxy toward every bound destination.
    if (d.isVerifiedTls) {
      for (const slot of slots) {
        if (slot.isHeldByAgent) continue;
        const binding = bindingDecision(slot, d);
        if (binding?.isBound) decisions.set(slot, binding.decision);
      }
    }
    for (const [slot, decision] of decisions) {
      const result = inject(slot, out, outBody);
      // A stored value may hold line breaks (a PEM key): never in a header, where it would split it.
      if (result.head.headers.some(([, v]) => /[\r\n\0]/.test(v))) {
        return refuse({
          status: 403,
          reason: `Refused: the value of credential "${slot.id}" holds a line break or NUL, which cannot go in a header.`,
        });
      }
      out = result.head;
      outBody = result.body;
      if (result.locations.length === 0) continue;
      injected.push(slot);
      audit({
        ...decisionRecord(decision, credentialRequest(slot, d), ctx),
        severity: 'info',
        outcome: { credential: slot.id, locations: result.locations.join(',') },
      });
    }
    return { head: out, body: outBody, injected };
  }

  function redactText(text: string): string {
    const findings = scan(text, { decode: true, except: placeholderValues }).filter(
      (f) => f.confidence === 'high',
    );
    return redact(text, findings);
  }

  function redactHead(head: HttpHead): HttpHead {
    return {
      method: head.method,
      target: redactText(head.target),
      headers: head.headers.map(([k, v]) => [k, redactText(v)] as const),
    };
  }

  function inject(
    slot: CredentialSlot,
    head: HttpHead,
    body: Buffer,
  ): { head: HttpHead; body: Buffer; locations: Location[] } {
    const spec = slot.inject;
    if (spec === undefined) return { head, body, locations: [] };
    const locations = new Set<Location>();
    const p = slot.placeholder;
    const headers = head.headers.map(([name, value]): readonly [string, string] => {
      const lower = name.toLowerCase();
      if (lower === spec.header) {
        if (value.includes(p)) {
          locations.add(`header:${lower}`);
          return [name, replaceAll(value, p, slot.value)];
        }
        const basic = /^(basic\s+)([A-Za-z0-9+/=]+)\s*$/i.exec(value);
        if (basic) {
          const encoded = basic[2] ?? '';
          const decoded = Buffer.from(encoded, 'base64');
          // Only a payload that round-trips exactly is touched (anything else is not Basic).
          if (decoded.toString('base64') === encoded) {
            const pair = decoded.toString('utf8');
            const colon = pair.indexOf(':');
            if (colon >= 0 && pair.includes(p)) {
              locations.add(pair.indexOf(p) < colon ? 'basic:user' : 'basic:password');
              const swapped = Buffer.from(replaceAll(pair, p, slot.value), 'utf8').toString('base64');
              return [name, `${basic[1] ?? 'Basic '}${swapped}`];
            }
          }
        }
        return [name, value];
      }
      if (spec.anywhere && !REFLECTED.has(lower) && value.includes(p)) {
        locations.add(`header:${lower}`);
        return [name, replaceAll(value, p, slot.value)];
      }
      return [name, value];
    });
    let target = head.target;
    let outBody = body;
    if (spec.anywhere) {
      if (target.includes(p)) {
        locations.add('url');
        target = replaceAll(target, p, encodeURIComponent(slot.value));
      }
      const text = body.toString('latin1');
      if (text.includes(p)) {
        locations.add('body');
        outBody = Buffer.from(
          replaceAll(text, p, Buffer.from(slot.value, 'utf8').toString('latin1')),
          'latin1',
        );
      }
    }
    // A binding the agent holds no placeholder for: the proxy sets the header itself, replacing
    // any the agent sent (research §5.2.6: replace, don't merge).
    if (!slot.isHeldByAgent && locations.size === 0) {
      const kept = headers.filter(([name]) => name.toLowerCase() !== spec.header);
      kept.push([spec.header, replaceAll(spec.format, '{secret}', slot.value)]);
      return {
        head: { method: head.method, target, headers: kept },
        body: outBody,
        locations: [`header:${spec.header}`],
      };
    }
    return { head: { method: head.method, target, headers }, body: outBody, locations: [...locations] };
  }

  // What a response may echo of each slot's value, and what replaces it, worked out once per
  // session. Both as latin1 text: Node reads header values so, and the scrubber reads bodies so.
  const scrubPairs = new Map<CredentialSlot, [string, string][]>();
  for (const slot of slots) {
    // detect's renderings (renderingsOf: raw, base64 at each alignment, hex, percent, JSON and
    // %u escapes, character references, byte lists), paired one to one.
    const from = renderingsOf(slot.value);
    const to = renderingsOf(slot.placeholder);
    const pairs: [string, string][] = [];
    from.forEach(({ text }, i) => {
      const into = to[i]?.text ?? slot.placeholder;
      // Short fragments (a tiny value's aligned base64) would match by chance.
      if (text.length >= MIN_KNOWN_LENGTH && text !== into) pairs.push([latin1(text), latin1(into)]);
    });
    scrubPairs.set(slot, pairs);
  }

  /** The pairs of the injected slots, longest first, so a rendering inside another goes whole. */
  function pairsOf(injected: readonly CredentialSlot[]): [string, string][] {
    return injected.flatMap((slot) => scrubPairs.get(slot) ?? []).sort((a, b) => b[0].length - a[0].length);
  }

  function scrubText(text: string, injected: readonly CredentialSlot[]): string {
    let out = text;
    for (const [from, to] of pairsOf(injected)) out = replaceAll(out, from, to);
    return out;
  }

  function scrubber(injected: readonly CredentialSlot[]): Transform {
    const pairs = pairsOf(injected);
    const keep = Math.max(0, ...pairs.map(([from]) => from.length)) - 1;
    let tail = '';
    const apply = (text: string): string => {
      let out = text;
      for (const [from, to] of pairs) out = replaceAll(out, from, to);
      return out;
    };
    return new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        const text = apply(tail + chunk.toString('latin1'));
        // Hold back what could be the start of a rendering split across chunks.
        const cut = Math.max(0, text.length - keep);
        tail = text.slice(cut);
        done(null, Buffer.from(text.slice(0, cut), 'latin1'));
      },
      flush(done: TransformCallback) {
        done(null, Buffer.from(apply(tail), 'latin1'));
      },
    });
  }

  function checkHost(host: string, port: number): HostRefusal | undefined {
    const lower = host.toLowerCase();
    // The name without its dots (a value spelled across labels), and where each character was.
    const at: number[] = [];
    for (let i = 0; i < lower.length; i++) if (lower[i] !== '.') at.push(i);
    const flat = at.map((i) => lower[i]).join('');
    const hits = (m: KnownMatcher): KnownHit[] => [
      ...m.find(lower),
      ...m
        .find(flat)
        .map((h) => ({ ...h, start: at[h.start] ?? 0, end: (at[h.end - 1] ?? lower.length) + 1 })),
    ];
    const kinds = [
      { type: 'credential.leak', severity: 'critical', what: 'real value', hits: hits(hostValues) },
      {
        type: 'credential.exfiltration',
        severity: 'high',
        what: 'placeholder',
        hits: hits(hostPlaceholders),
      },
    ] as const;
    // A secret spelled across labels (ghp-xxxx.yyyy.exfil.example): refused before any lookup.
    const findings = scanHost(host);
    // Whatever the name is refused for, nothing found in it reaches the audit.
    const shown = (): string => redactedHost(host, [...kinds.flatMap((k) => k.hits), ...findings]);
    for (const { type, severity, what, hits: found } of kinds) {
      const hit = found.find((h) => bySlotId.has(h.id));
      const slot = hit ? bySlotId.get(hit.id) : undefined;
      if (hit && slot) {
        const name = shown();
        const reason = `Refused: the host name carries the ${what} of credential "${slot.id}".`;
        leak(type, severity, slot, { host: name, port, isVerifiedTls: false }, reason, hit.encoding);
        return { reason, shown: name };
      }
    }
    const found = findings.find((f) => f.confidence === 'high');
    if (found) {
      const name = shown();
      const reason = `Refused: the host name carries what looks like a ${found.family} secret (${found.rule}, ${found.fingerprint}); it was not looked up.`;
      audit(
        alertRecord('network.secret', ctx, 'high', reason, {
          rule: found.rule,
          family: found.family,
          fingerprint: found.fingerprint,
          destination: `${name}:${port}`,
          action: 'block',
        }),
      );
      return { reason, shown: name };
    }
    return undefined;
  }

  return { inspect, checkHost, scrubber, scrubText };
}

/** The values of a request target's query parameters, percent-decoded where that is possible. */
function queryValues(target: string): string[] {
  const query = target.includes('?') ? target.slice(target.indexOf('?') + 1) : '';
  return query.split('&').map((pair) => {
    const value = pair.slice(pair.indexOf('=') + 1);
    try {
      return decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      return value;
    }
  });
}
