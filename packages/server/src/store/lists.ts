// Statements that name many values at once (`IN (…)`, `VALUES …`): the lists cut to a size one
// statement takes, and their placeholders.

/** The most values one statement lists; longer lists take more statements. */
export const LIST_MAX = 500;

/** `items` in slices of LIST_MAX, one statement's worth each. */
export function slices<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += LIST_MAX) out.push(items.slice(i, i + LIST_MAX));
  return out;
}

/** One placeholder (`?`, or a row of them) per value, comma-separated. */
export const marks = (values: readonly unknown[], mark = '?'): string => values.map(() => mark).join(', ');

/**
 * `values` padded (with the last one again) to a power of two, so a statement that lists them
 * takes a few forms, each prepared once, however many values there are. Listing a value twice
 * changes nothing an `IN (…)` or an update from a list of identical rows does.
 */
export function padded<T>(values: readonly T[]): T[] {
  const out = [...values];
  const last = values[values.length - 1];
  let size = 1;
  while (size < values.length) size *= 2;
  while (last !== undefined && out.length < size) out.push(last);
  return out;
}
