// The generated sections of docs/benchmarks.md: each benchmark owns the text between
// <!-- bench:NAME:start --> and <!-- bench:NAME:end --> and rewrites only that.

export function markers(name) {
  return { start: `<!-- bench:${name}:start -->`, end: `<!-- bench:${name}:end -->` };
}

/** Replaces the named section of the document (or appends it); `section` includes its markers. */
export function replaceSection(document, name, section) {
  const { start: open, end: close } = markers(name);
  const start = document.indexOf(open);
  const end = document.indexOf(close);
  if (start >= 0 && end > start)
    return document.slice(0, start) + section + document.slice(end + close.length);
  return `${document.replace(/\s*$/, '')}\n\n${section}\n`;
}
