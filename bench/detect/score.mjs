// Scoring of the detection benchmark (research egress.md §8.2): a finding is a true positive when
// it overlaps a labelled secret's span, otherwise a false positive; a labelled secret no finding
// overlaps is a false negative. Precision is per finding family (what the tool claimed), recall
// per expected family (what was there); provider rules and generic rules are reported apart, and
// templates (placeholders) separately from benign text.

const GENERIC = new Set(['generic', 'password', 'dns-exfiltration']);
export const kindOf = (family) => (GENERIC.has(family) ? 'generic' : 'provider');

const overlaps = (a, b) => a[0] < b[1] && b[0] < a[1];

function ratio(n, d) {
  return d === 0 ? null : n / d;
}

/**
 * `results`: per record, the findings as [{family, span: [start, end]}]. Returns totals, per-family
 * and per-kind precision/recall, and the template and benign false-positive rates.
 */
export function score(records, results) {
  const byFamily = new Map();
  const family = (f) => {
    if (!byFamily.has(f)) byFamily.set(f, { tp: 0, fp: 0, found: 0, missed: 0 });
    return byFamily.get(f);
  };
  const kinds = {
    provider: { tp: 0, fp: 0, found: 0, missed: 0 },
    generic: { tp: 0, fp: 0, found: 0, missed: 0 },
  };
  const all = { tp: 0, fp: 0, found: 0, missed: 0 };
  const perLabel = {
    secret: { records: 0, withFinding: 0 },
    template: { records: 0, withFinding: 0 },
    benign: { records: 0, withFinding: 0, findings: 0 },
  };
  const falsePositives = [];
  const falseNegatives = [];
  records.forEach((record, i) => {
    const findings = results[i];
    const label = perLabel[record.label];
    label.records++;
    if (findings.length > 0) label.withFinding++;
    if (record.label === 'benign') label.findings += findings.length;
    for (const f of findings) {
      const isTrue = record.expect.some((e) => overlaps(e.span, f.span));
      const bucket = isTrue ? 'tp' : 'fp';
      family(f.family)[bucket]++;
      kinds[kindOf(f.family)][bucket]++;
      all[bucket]++;
      if (!isTrue)
        falsePositives.push({
          id: record.id,
          source: record.source,
          label: record.label,
          family: f.family,
          rule: f.rule,
        });
    }
    for (const e of record.expect) {
      const isFound = findings.some((f) => overlaps(e.span, f.span));
      const bucket = isFound ? 'found' : 'missed';
      family(e.family)[bucket]++;
      kinds[kindOf(e.family)][bucket]++;
      all[bucket]++;
      if (!isFound) falseNegatives.push({ id: record.id, family: e.family });
    }
  });
  const summarise = (c) => ({
    ...c,
    precision: ratio(c.tp, c.tp + c.fp),
    recall: ratio(c.found, c.found + c.missed),
  });
  return {
    overall: summarise(all),
    provider: summarise(kinds.provider),
    generic: summarise(kinds.generic),
    families: Object.fromEntries(
      [...byFamily].sort(([a], [b]) => a.localeCompare(b)).map(([f, c]) => [f, summarise(c)]),
    ),
    templateFalsePositiveRate: ratio(perLabel.template.withFinding, perLabel.template.records),
    benignFalsePositiveRate: ratio(perLabel.benign.withFinding, perLabel.benign.records),
    labels: perLabel,
    falsePositives,
    falseNegatives,
  };
}
