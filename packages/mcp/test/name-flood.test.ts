// redteam-35-5: one upstream listing 10,000 distinctive tool names held the gateway's one thread
// ~11 s per listing. The cross-server check compiled a case-insensitive alternation of every other
// server's names for each definition it scanned (3.6 s for a one-line description). Now a Set of
// names is compiled once, and a name of one word ([A-Za-z0-9_-], every name a client accepts) is
// found by looking up the text's words, so a scan's work does not grow with the number of names;
// other names go in patterns of at most 64, whose compiling costs their size. Work is counted, not
// timed: the patterns built and the lookups made. The old pattern stays here as the oracle: the
// finder must report the place it did, on any text and any names.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { firstMention, type PoisoningFinding, scanDefinition } from '../src/poisoning.js';
import { withStandIn } from './stand-in.js';

/** The pattern the scan built for every definition before redteam-35-5, verbatim. */
function oldPattern(names: ReadonlySet<string>): RegExp | undefined {
  const distinctive = [...names]
    .filter((name) => /[_-]/.test(name) || [...name].length >= 8)
    .sort((a, b) => b.length - a.length)
    .map((name) => name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  return distinctive.length === 0
    ? undefined
    : new RegExp(`(?<![\\w-])(?:${distinctive.join('|')})(?![\\w-])`, 'iu');
}

function oldMention(text: string, names: ReadonlySet<string>): number | undefined {
  const pattern = oldPattern(names);
  const index = pattern === undefined ? -1 : text.search(pattern);
  return index < 0 ? undefined : index;
}

// Characters where case folding and word boundaries differ: long s and the Kelvin sign (word
// characters that fold to s and k), final sigma, sharp s and its capital, dotted and dotless i,
// accented letters (not word characters), an emoji, a lone surrogate, pattern syntax.
const CHARS = [
  ...'aAsSkKe_-0 .$(',
  'ſ',
  'K',
  'é',
  'É',
  'ς',
  'Σ',
  'σ',
  'ß',
  'ẞ',
  'İ',
  'ı',
  '日',
  '😀',
  '\uD83D',
];
const ASCII_NAMES = ['send_email', 'mail__send_email', 'create-issue', 'kubeconfig', 'SKs_e', 'a-'];

const name = fc.oneof(
  fc.constantFrom(...ASCII_NAMES),
  fc.stringMatching(/^[aAsSkKe0_-]{1,10}$/),
  fc.string({ unit: fc.constantFrom(...CHARS), minLength: 1, maxLength: 10 }),
);

/** `text` with the case of each character changed as `ways` says (long s and Kelvin sign included). */
function recased(text: string, ways: readonly number[]): string {
  const recase = (c: string, way: number): string =>
    [c, c.toUpperCase(), c.toLowerCase(), c === 's' ? 'ſ' : c === 'k' ? 'K' : c][way % 4]!;
  return [...text].map((c, i) => recase(c, ways[i] ?? 0)).join('');
}

/**
 * Names (sometimes more than go in one pattern), and a text made of random characters and of
 * those names in any case.
 */
const namesAndText = fc
  .oneof(
    { weight: 4, arbitrary: fc.array(name, { minLength: 1, maxLength: 8 }) },
    { weight: 1, arbitrary: fc.array(name, { minLength: 65, maxLength: 140 }) },
  )
  .chain((names) =>
    fc.tuple(
      fc.constant(new Set(names)),
      fc
        .array(
          fc.oneof(
            fc.constantFrom(...CHARS),
            fc
              .tuple(fc.constantFrom(...names), fc.array(fc.nat(3), { maxLength: 12 }))
              .map(([n, ways]) => recased(n, ways)),
          ),
          { maxLength: 12 },
        )
        .map((parts) => parts.join('')),
    ),
  );

/** The work of `run`: the source of every pattern it builds with `new RegExp`, and its Set lookups. */
function workOf(run: () => void): { patterns: string[]; lookups: number } {
  const patterns: string[] = [];
  let lookups = 0;
  withStandIn(
    globalThis,
    'RegExp',
    (real) =>
      new Proxy(real, {
        construct(target, args: unknown[], newTarget) {
          patterns.push(String(args[0]));
          return Reflect.construct(target, args, newTarget) as RegExp;
        },
      }),
    () =>
      withStandIn(
        Set.prototype,
        'has',
        (has) =>
          function (this: Set<unknown>, value: unknown) {
            lookups++;
            return has.call(this, value);
          },
        run,
      ),
  );
  return { patterns, lookups };
}

/** `tool_aaa…a_0`, `tool_aaa…a_1`, …: names a listing can hold by the thousand. */
const floodNames = (n: number, separator = '_'): string[] =>
  Array.from({ length: n }, (_, i) => `tool${separator}${'a'.repeat(50)}_${i}`);

/** Definitions of another server, as a listing sends them. */
const definitions = (mention: string): Record<string, unknown>[] =>
  Array.from({ length: 3 }, (_, i) => ({
    name: `get_forecast_${i}`,
    description: `Fetch the weather forecast for a city. Unlike ${mention}, it needs no key.`,
    inputSchema: {
      type: 'object',
      properties: { city: { type: 'string', description: 'The city, e.g. Lisbon or São Paulo.' } },
    },
  }));

/** The findings of scanning a listing's definitions with one Set of names, and the work done. */
function scanListing(
  mention: string,
  names: ReadonlySet<string>,
): ReturnType<typeof workOf> & { findings: PoisoningFinding[] } {
  let findings: PoisoningFinding[] = [];
  const work = workOf(() => {
    findings = definitions(mention).flatMap((d) => scanDefinition(d, { names }));
  });
  return { ...work, findings };
}

const crossServer = (findings: readonly PoisoningFinding[]): PoisoningFinding[] =>
  findings.filter((f) => f.kind === 'cross-server-reference');

void describe('redteam-35-5: mentions of other servers’ tools among many names', () => {
  void it('the finder reports the place the old pattern did, on any text and any names', () => {
    fc.assert(
      fc.property(namesAndText, ([names, text]) => {
        assert.equal(firstMention(text, names), oldMention(text, names));
      }),
      { numRuns: 2000 },
    );
  });

  void it('one-word names are found as whole words in any case, others as before', () => {
    const flood = floodNames(10);
    const names = new Set([...flood, 'send.email', 'outil_été', 'echo']);
    const cases: readonly (readonly [string, number | undefined])[] = [
      ['Use TOOL_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_7 first.', 4],
      [`Use re${flood[0]} first.`, undefined],
      [`Use ${flood[0]}x first.`, undefined],
      [`Use ${flood[0]}-2 first.`, undefined],
      [`é${flood[2]}é`, 1],
      ['Then call SEND.EMAIL, then tool_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_1.', 10],
      ['Then call tool_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_1, then send.email.', 10],
      ['Call OUTIL_ÉTÉ.', 5],
      ['Call echo or send.emails.', undefined],
    ];
    for (const [text, index] of cases) {
      assert.equal(firstMention(text, names), index, text);
      assert.equal(oldMention(text, names), index, `${text} (old pattern)`);
    }
  });

  void it('a scan among 10,000 names of another server builds no pattern of them, and looks up each word once', () => {
    // A name both sets hold, so that both scans stop at the same word.
    const mention = floodNames(10)[7]!.toUpperCase();
    // One Set for every definition of the listing, as the gateway passes it; two names that are
    // not one word go in a pattern of their own.
    const work = (n: number): ReturnType<typeof scanListing> =>
      scanListing(mention, new Set([...floodNames(n), ...floodNames(1).map((f) => `${f}.v2`), 'send.email']));
    const few = work(10);
    const many = work(10_000);
    // The old scan built one pattern of all the names per definition: 3 of some 600,000 characters.
    assert.equal(many.patterns.length, 1, 'one pattern for the Set');
    assert.ok(many.patterns[0]!.length < 200, `a pattern of the two odd names: ${many.patterns[0]}`);
    // Every word of every string scanned is looked up once, whatever the number of names.
    assert.equal(many.lookups, few.lookups);
    assert.ok(many.lookups > 0 && many.lookups < 200, `${many.lookups} lookups`);
    assert.deepEqual(many.findings, few.findings);
    assert.deepEqual(
      crossServer(many.findings).map((f) => f.where),
      ['description', 'description', 'description'],
    );
    assert.match(crossServer(many.findings)[0]!.excerpt, /Unlike TOOL_A{50}_7,…$/);
  });

  void it('10,000 names that are not one word are compiled once for the Set, in patterns of at most 64', () => {
    const names = new Set(floodNames(10_000, '.'));
    const { patterns, findings } = scanListing(floodNames(10, '.')[7]!.toUpperCase(), names);
    // The old scan built one pattern of all 10,000 per definition: 3 here.
    assert.equal(patterns.length, Math.ceil(10_000 / 64));
    const alternatives = patterns.map((p) => p.split('|').length);
    assert.ok(Math.max(...alternatives) <= 64, `at most ${Math.max(...alternatives)} names a pattern`);
    assert.equal(
      alternatives.reduce((a, b) => a + b),
      10_000,
    );
    assert.deepEqual(
      crossServer(findings).map((f) => f.excerpt),
      Array.from({ length: 3 }, () => `… for a city. Unlike TOOL.${'A'.repeat(50)}_7,…`),
    );
    assert.deepEqual(scanListing('x', names).patterns, [], 'none for the next listing');
  });
});
