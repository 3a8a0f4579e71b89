// A coloured log for the speed of `npm run bench:detect`: the benign records with one line in
// three coloured the way real tools write to a terminal, so the reading of terminal control
// sequences (packages/detect terminal-sequences.ts) is timed on honest text. Deterministic: line i
// of the text takes style i / 3 mod the number of styles, so every run scans the same bytes. No
// secret is added, so what it finds must be what the uncoloured text finds: run.mjs scans each
// record both ways and measures the one against the other (againstPlain()), and a finding the
// colours add (a false positive of the reading that keeps what a terminal hides) misses a target.
//
// The styles, each written after the escape sequences the tool is known to write:
// - test runners (chalk: `\e[32m✓\e[39m`, words dimmed and bold, `\e[2m…\e[22m`);
// - GNU grep --color=always (`\e[35m\e[Kfile\e[m\e[K\e[36m\e[K:\e[m\e[K`, a match inside a word
//   `\e[01;31m\e[K…\e[m\e[K`);
// - ripgrep (`\e[0m\e[1m\e[31m…\e[0m`: its reset glued between the match and the rest of the word);
// - git diff (`\e[32m+…\e[m`) and git status -sb (`\e[32mmain\e[m...\e[31morigin/main\e[m`);
// - syntax highlighting in 256 colours (`\e[38;5;81m…\e[39m`, word by word);
// - shell integration and hyperlinks: OSC 133 prompt marks, an OSC 0 title, OSC 8 links over paths.

const E = '\x1b';
const WORD = /\b[A-Za-z_][A-Za-z0-9_]*\b/g;

/** Every word of `line` wrapped in `open` and `close`. */
const eachWord = (line, open, close) => line.replace(WORD, (w) => `${open}${w}${close}`);

/** The first word of 6 characters or more with its characters 2 to 5 wrapped, or the line as it is. */
function insideFirstLongWord(line, open, close) {
  const m = /[A-Za-z_][A-Za-z0-9_]{5,}/.exec(line);
  if (!m) return line;
  const w = m[0];
  const marked = `${w.slice(0, 2)}${open}${w.slice(2, 5)}${close}${w.slice(5)}`;
  return line.slice(0, m.index) + marked + line.slice(m.index + w.length);
}

const STYLES = [
  (line) => `${E}[32m✓${E}[39m ${eachWord(line, `${E}[2m`, `${E}[22m`)}`,
  (line) =>
    `${E}[35m${E}[Ksrc/file.ts${E}[m${E}[K${E}[36m${E}[K:${E}[m${E}[K` +
    insideFirstLongWord(line, `${E}[01;31m${E}[K`, `${E}[m${E}[K`),
  (line) =>
    `${E}[0m${E}[35msrc/file.ts${E}[0m:` + insideFirstLongWord(line, `${E}[0m${E}[1m${E}[31m`, `${E}[0m`),
  (line) => `${E}[32m+${line}${E}[m`,
  (line) => `## ${E}[32mmain${E}[m...${E}[31morigin/main${E}[m ${line}`,
  (line) => eachWord(line, `${E}[38;5;81m`, `${E}[39m`),
  (line) =>
    `${E}]133;A${E}\\${E}]0;npm test\x07$ ${E}]8;;file:///work/src/a.ts${E}\\src/a.ts${E}]8;;${E}\\ ${line}`,
];

/** `text` with one line in three coloured (the line's number sets its style). */
export function coloured(text) {
  return text
    .split('\n')
    .map((line, i) => (i % 3 === 0 && line !== '' ? STYLES[(i / 3) % STYLES.length](line) : line))
    .join('\n');
}

/**
 * What `find` finds in each of `records` coloured, measured against what it finds in the record
 * as it is: a finding (its rule and fingerprint) the colours add, or one they lose. `find` gives
 * findings with a fingerprint (peers.mjs: Perimeter's).
 */
export function againstPlain(find, records) {
  const keys = (text) => find(text).map((f) => `${f.rule} ${f.fingerprint}`);
  const result = { records: records.length, plain: 0, coloured: 0, added: [], lost: [] };
  for (const [i, r] of records.entries()) {
    const plain = keys(r.text);
    const inColour = keys(coloured(r.text));
    result.plain += plain.length;
    result.coloured += inColour.length;
    // Both ways, as multisets: a finding found twice in colour and once in plain is one added.
    const rest = [...plain];
    for (const key of inColour) {
      const at = rest.indexOf(key);
      if (at >= 0) rest.splice(at, 1);
      else result.added.push(`${key.split(' ')[0]} in ${r.id ?? `record ${i}`}`);
    }
    for (const key of rest) result.lost.push(`${key.split(' ')[0]} in ${r.id ?? `record ${i}`}`);
  }
  return result;
}
