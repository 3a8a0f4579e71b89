// An MCP rule's argument predicates in words, for the reason of a call no rule decided: which
// condition of a rule that names the tool did not hold, and why. Pure. Never quotes an argument's
// value: a reason is recorded in audit events, which carry argument values only when a policy says
// so (mcp.auditArguments), and a value may hold a secret.

import type { ArgPredicateC } from './compile.js';
import type { ExpandedPathPattern, PathSegment } from './path-pattern.js';
import { otherReading, type OtherReading } from './path-argument.js';
import { REGEX_INPUT_LIMIT } from './regex-guard.js';

/** How a call's argument failed a predicate: absent, present and not matching, or not evaluable. */
export type ArgShortfall = 'missing' | 'no' | 'error';

export interface ArgMiss {
  readonly predicate: ArgPredicateC;
  readonly shortfall: ArgShortfall;
  /** The argument's value, to say what kind of value could not be evaluated (never quoted). */
  readonly value: unknown;
}

function segmentText(s: PathSegment): string {
  return s.kind === 'any-depth' ? '**' : s.text;
}

/**
 * The predicate as the policy writes it, `path: { glob: "${workspace}/src/**" }`, with a glob's
 * root expanded after it when that changes it (`(/w/src/**)`): the directory it really names.
 */
export function argCondition(p: ArgPredicateC, expanded: ExpandedPathPattern | undefined): string {
  const t = p.test;
  let test: string;
  switch (t.kind) {
    case 'equals':
      test = `equals: ${JSON.stringify(t.value)}`;
      break;
    case 'oneOf':
      test = `oneOf: [${t.values.map((v) => JSON.stringify(v)).join(', ')}]`;
      break;
    case 'prefix':
      test = `prefix: ${JSON.stringify(t.prefix)}`;
      break;
    case 'range': {
      const bounds = [
        ...(t.min !== undefined ? [`min: ${t.min}`] : []),
        ...(t.max !== undefined ? [`max: ${t.max}`] : []),
      ];
      test = `range: { ${bounds.join(', ')} }`;
      break;
    }
    case 'regex': {
      // The compiler adds `u` to every regex; the policy wrote only the others.
      const flags = t.re.flags.replace('u', '');
      test = `regex: ${JSON.stringify(flags === '' ? t.re.source : `/${t.re.source}/${flags}`)}`;
      break;
    }
    case 'glob':
      test = `glob: ${JSON.stringify(t.pattern.text)}`;
      break;
  }
  let written = `${p.key}: { ${test} }`;
  if (
    t.kind === 'glob' &&
    expanded !== undefined &&
    t.pattern.root !== 'absolute' &&
    t.pattern.root !== 'anywhere'
  ) {
    written += ` (that is /${expanded.segments.map(segmentText).join('/')})`;
  }
  return written;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

const OTHER_READING: Record<OtherReading, string> = {
  relative: 'is relative',
  uri: 'is a URI',
  home: 'starts with ~',
  variable: 'holds ${…}',
  'not-nfc': 'is not in Unicode NFC (é as e + U+0301, say)',
  compatibility: 'holds a character that folds to path syntax (as ／ to /)',
  'mark-run': 'holds a run of more than 30 combining marks',
};

/** Why an argument could not be evaluated against a glob, in the order the engine checks. */
function globError(p: ArgPredicateC, value: string, expanded: ExpandedPathPattern | undefined): string {
  const reading = otherReading(value);
  if (reading !== undefined) return `${p.key} ${OTHER_READING[reading]}, which servers read differently`;
  if (expanded === undefined) return 'the pattern names ${workspace} and no workspace is set';
  return `${p.key} cannot be read as a path (too long, a control character), or leads through a symbolic link to a path the pattern judges otherwise`;
}

/** Why one predicate did not hold, or '' when the argument simply does not match it. */
function shortfallDetail(m: ArgMiss, expanded: ExpandedPathPattern | undefined): string {
  const p = m.predicate;
  switch (m.shortfall) {
    case 'no':
      return '';
    case 'missing':
      return `the call has no argument ${p.key}`;
    case 'error':
      if (typeof m.value === 'string') {
        if (p.test.kind === 'glob') return globError(p, m.value, expanded);
        if (p.test.kind === 'regex' && m.value.length > REGEX_INPUT_LIMIT)
          return `${p.key} is longer than ${REGEX_INPUT_LIMIT} characters`;
      }
      return `${p.key} is ${kindOf(m.value)}`;
  }
}

/**
 * `its argument condition path: { glob: "…" } does not hold`, with why when the argument is absent
 * or of the wrong kind; every failing condition of the rule is named.
 */
export function describeArgMisses(
  misses: readonly ArgMiss[],
  expandedOf: (p: ArgPredicateC) => ExpandedPathPattern | undefined,
): string {
  const parts = misses.map((m) => {
    const expanded = expandedOf(m.predicate);
    const detail = shortfallDetail(m, expanded);
    return { condition: argCondition(m.predicate, expanded), detail };
  });
  const [only] = parts;
  if (parts.length === 1 && only !== undefined)
    return `its argument condition ${only.condition} does not hold${only.detail ? ` (${only.detail})` : ''}`;
  const named = parts.map((x) => `${x.condition}${x.detail ? ` (${x.detail})` : ''}`);
  const last = named.pop() ?? '';
  return `its argument conditions ${named.join(', ')} and ${last} do not hold`;
}
