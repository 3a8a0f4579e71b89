// Exact matches of the secrets a session knows (the values the proxy injects, the placeholders it
// hands out, canaries): if one of them, or any rendering of it, appears in outbound traffic it can
// only be a leak (egress-dlp-10). Renderings: raw; base64 and base64url at the three byte
// alignments, so a value inside a larger blob (Basic `user:VALUE`) is still found; hex in lower and
// upper case; percent-encoded; JSON \u-escaped; JavaScript's %uXXXX; HTML character references;
// lists of its bytes in 0x and decimal. Built once per session; find() looks for a short anchor
// taken from each rendering and compares the whole rendering only where it occurs. Fixed spellings
// cannot cover every encoder (Python's quote keeps "/", a JSON writer escapes one character, base64
// is wrapped), so find() also looks in what the text decodes to (decodedLayers, which scan()
// shares: a text is decoded once for both; redteam-30-3), text cut by hidden characters read
// without them included.

import { decodedLayers } from './decode.js';
import type { Encoding } from './finding.js';

export interface KnownValue {
  readonly id: string;
  readonly value: string;
}

export interface KnownHit {
  readonly id: string;
  readonly encoding: Encoding;
  readonly start: number;
  readonly end: number;
}

export interface KnownMatcher {
  /** The values in `text`, written out in any rendering or in what it decodes to. */
  find(text: string): KnownHit[];
  /**
   * The values written out in `text` in one of their renderings, without decoding it: for a join
   * of strings each already looked into whole with find(), where decoding the join again would
   * cost several times the strings' own scans.
   */
  findRaw(text: string): KnownHit[];
}

interface Rendering {
  readonly id: string;
  readonly encoding: Encoding;
  readonly text: string;
}

/** Values shorter than this are too likely to occur by chance to be matched at all. */
export const MIN_KNOWN_LENGTH = 8;
const ANCHOR_LENGTH = 8;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function base64Of(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  return out;
}

/**
 * The base64 characters that depend only on `bytes` when they sit at byte offset `shift` (0, 1, 2)
 * of a larger encoded blob: the partial characters at each end are dropped.
 */
export function base64Aligned(bytes: Uint8Array, shift: 0 | 1 | 2): string {
  const padded = new Uint8Array(shift + bytes.length + 2);
  padded.set(bytes, shift);
  const encoded = base64Of(padded);
  const from = Math.ceil((shift * 8) / 6);
  const to = Math.floor(((shift + bytes.length) * 8) / 6);
  return encoded.slice(from, to);
}

const hex = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Every rendering of `value` this module knows, unfiltered, always the same number in the same
 * order: so the renderings of a secret pair one to one with those of its placeholder (the proxy
 * scrubs each from responses back into the other).
 */
export function renderingsOf(value: string): { readonly encoding: Encoding; readonly text: string }[] {
  const bytes = new TextEncoder().encode(value);
  const out: { encoding: Encoding; text: string }[] = [{ encoding: 'raw', text: value }];
  for (const shift of [0, 1, 2] as const) {
    const b64 = base64Aligned(bytes, shift);
    out.push({ encoding: 'base64', text: b64 });
    out.push({ encoding: 'base64url', text: b64.replace(/\+/g, '-').replace(/\//g, '_') });
  }
  const h = hex(bytes);
  out.push({ encoding: 'hex', text: h }, { encoding: 'hex', text: h.toUpperCase() });
  const percent = encodeURIComponent(value);
  const everyByte = [...bytes].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
  out.push(
    { encoding: 'percent', text: percent },
    { encoding: 'percent', text: everyByte },
    { encoding: 'percent', text: everyByte.toLowerCase() },
  );
  // UTF-16 code units, as JSON's \u and JavaScript's %u escape them: a character past U+FFFF is two.
  const units = Array.from({ length: value.length }, (_, i) => value.charCodeAt(i));
  const unitEscapes = (prefix: string): string =>
    units.map((u) => `${prefix}${u.toString(16).padStart(4, '0')}`).join('');
  const jsonString = JSON.stringify(value).slice(1, -1);
  const escaped = unitEscapes('\\u');
  out.push(
    { encoding: 'json', text: jsonString },
    { encoding: 'json', text: escaped },
    { encoding: 'json', text: escaped.toUpperCase().replace(/\\U/g, '\\u') },
  );
  // detect-32-7: the forms the decoder learnt in detect-31, each in the one spelling its common
  // writer uses (xxd -i and C arrays, Python's and JSON's lists, a page's references), after the
  // older ones so that their indices stay. The proxy's response scrubber does not decode: without
  // these a secret echoed so went back to the agent. Other spellings (upper-case digits, no space
  // after a comma) are found outbound by decoding; every anchor added here costs the matcher's
  // scan of every text (these six, about 3 % of find() on the bench's benign corpus).
  const codePoints = [...value].map((c) => c.codePointAt(0) ?? 0);
  out.push(
    { encoding: 'percent', text: unitEscapes('%u') },
    { encoding: 'html', text: codePoints.map((c) => `&#${c};`).join('') },
    { encoding: 'html', text: codePoints.map((c) => `&#x${c.toString(16)};`).join('') },
    { encoding: 'hex', text: [...bytes].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ') },
    { encoding: 'decimal', text: [...bytes].join(', ') },
    { encoding: 'decimal', text: [...bytes].join(',') },
  );
  return out;
}

function matchedRenderings(known: KnownValue): Rendering[] {
  const out = renderingsOf(known.value).map((r) => ({ ...r, id: known.id }));
  // Identical renderings (an alphanumeric value is its own percent and JSON form) are kept once,
  // under the first (rawest) encoding.
  const seen = new Set<string>();
  return out.filter((r) => r.text.length >= MIN_KNOWN_LENGTH - 2 && !seen.has(r.text) && seen.add(r.text));
}

/**
 * A matcher for the given values. Values shorter than MIN_KNOWN_LENGTH are ignored (they would
 * match by chance). Hits are in order of position; overlapping hits of one value are kept once.
 * A value is found however it is encoded, as long as what scan() decodes (percent-encoding in any
 * case and with any safe set, `%uXXXX`, JSON escapes of some characters, wrapped base64, hex with or
 * without separators, character references, byte lists) decodes to it.
 */
export function knownMatcher(values: readonly KnownValue[]): KnownMatcher {
  const renderings = values.filter((v) => v.value.length >= MIN_KNOWN_LENGTH).flatMap(matchedRenderings);
  // Renderings by anchor (their first ANCHOR_LENGTH characters); one alternation finds the anchors.
  const byAnchor = new Map<string, Rendering[]>();
  for (const r of renderings) {
    const anchor = r.text.slice(0, ANCHOR_LENGTH);
    const list = byAnchor.get(anchor) ?? [];
    list.push(r);
    byAnchor.set(anchor, list);
  }
  for (const list of byAnchor.values()) list.sort((a, b) => b.text.length - a.text.length);
  const escaped = [...byAnchor.keys()]
    .sort((a, b) => b.length - a.length)
    .map((a) => a.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'));
  if (escaped.length === 0) return { find: () => [], findRaw: () => [] };
  const anchors = new RegExp(escaped.join('|'), 'g');

  /** The renderings written out in `text`, in order of position, none overlapping. */
  function renderedIn(text: string): KnownHit[] {
    // renderedIn() runs to completion before it returns, so the one regex's lastIndex is never shared.
    anchors.lastIndex = 0;
    const hits: KnownHit[] = [];
    let m: RegExpExecArray | null;
    while ((m = anchors.exec(text)) !== null) {
      const at = m.index;
      const candidates = byAnchor.get(m[0]) ?? [];
      const r = candidates.find((c) => text.startsWith(c.text, at));
      if (r) {
        hits.push({ id: r.id, encoding: r.encoding, start: at, end: at + r.text.length });
        anchors.lastIndex = at + r.text.length;
      } else anchors.lastIndex = at + 1;
    }
    return hits;
  }

  return {
    /**
     * The renderings in `text`, and the values in what it decodes to: a value found in an encoded
     * segment is reported over the whole segment, under its encoding, so redacting the hit
     * removes every byte of the value (a value cut by hidden characters, over it and them).
     */
    find(text: string): KnownHit[] {
      const hits = renderedIn(text);
      for (const layer of decodedLayers(text))
        for (const inner of renderedIn(layer.decoded)) {
          const [start, end] = layer.spanOf?.(inner.start, inner.end) ?? [layer.start, layer.end];
          hits.push({ id: inner.id, encoding: layer.encoding, start, end });
        }
      return keptOnce(hits);
    },
    findRaw: renderedIn,
  };
}

/**
 * Hits in order of position, those of one value that overlap merged into one over both spans (a
 * rendering found as written and again inside its decoded segment), named by the earliest.
 */
function keptOnce(hits: KnownHit[]): KnownHit[] {
  hits.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: KnownHit[] = [];
  // The last hit kept of each value, to merge an overlapping one into.
  const lastOf = new Map<string, number>();
  for (const hit of hits) {
    const at = lastOf.get(hit.id);
    const last = at === undefined ? undefined : kept[at];
    if (at !== undefined && last && hit.start < last.end) {
      if (hit.end > last.end) kept[at] = { ...last, end: hit.end };
      continue;
    }
    lastOf.set(hit.id, kept.length);
    kept.push(hit);
  }
  return kept;
}
