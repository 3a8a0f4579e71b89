// Where the server's time went while it was profiled: a V8 CPU profile of the server process's
// main thread (server-child.mjs, between 'profile-start' and 'profile-stop') sorted into what the
// server was doing. Each sample goes to the first category whose function is on its stack, so the
// more specific ones come first; the shares are of the profile's wall time (idle included).

const COMMON_FIRST = [
  { key: 'gc', label: 'garbage collection', leaf: '(garbage collector)' },
  { key: 'idle', label: 'idle (waiting for the network, the database or a worker)', leaf: '(idle)' },
];
const COMMON_LAST = [
  { key: 'log', label: 'request log lines', url: /\/server\/dist\/src\/log\.js$/ },
  {
    key: 'database',
    // SQLite's statements run from its lock's queue and PostgreSQL's from the pool's callbacks, so
    // the function that asked for a statement is rarely on the stack when it runs.
    label: 'database statements (whose caller the stack no longer shows)',
    url: /\/db\/(sqlite|postgres)\.js$|\/node_modules\/(pg|pg-protocol|pg-pool|better-sqlite3)\//,
  },
  {
    key: 'http',
    label: 'HTTP: parsing requests, routing, writing answers',
    url: /^node:(_http|net|internal\/streams|internal\/stream_base)|\/http\/(api-handler|router|body)\.js$|\/server\/dist\/src\/server\.js$/,
  },
];

/** What a server does while a publication reaches the devices. */
export const PROPAGATION_CATEGORIES = [
  ...COMMON_FIRST,
  {
    key: 'publishedSet',
    label: 'reading and validating the published policy set (BundleIssuer.publishedOf)',
    fn: ['publishedOf'],
  },
  { key: 'signing', label: 'signing bundles (signCompact)', fn: ['signCompact'] },
  {
    key: 'reports',
    label: 'storing activation reports and last-seen times, a batch at a time (applyWrites)',
    fn: ['applyWrites'],
  },
  {
    key: 'deviceReads',
    label: "reading devices' credentials and standings, a batch at a time",
    fn: ['devicesByCredentialHash', 'deviceStandings'],
  },
  { key: 'auth', label: 'authenticating devices (authenticateDevice)', fn: ['authenticateDevice'] },
  {
    key: 'longPoll',
    label: "long polls: the device's standing, the signing key, the cached bundle (bundleReply)",
    fn: ['bundleReply', 'currentDeviceGroups', 'bundleFor'],
  },
  { key: 'publish', label: 'the publication itself (publish)', fn: ['publish'] },
  ...COMMON_LAST,
];

/** What a server does while devices upload their audit events. */
export const INGEST_CATEGORIES = [
  ...COMMON_FIRST,
  {
    key: 'store',
    label: 'storing batches (chain heads, duplicates, inserts)',
    fn: ['storeTogether', 'storeIn', 'lockHeads', 'insertRows'],
  },
  {
    key: 'check',
    label: 'checking lines on the main thread (JSON, schema, hash; small uploads)',
    fn: ['checkLine', 'checkEvent'],
  },
  { key: 'upload', label: 'reading and inflating uploads (readUpload)', fn: ['readUpload'] },
  {
    key: 'batch',
    label: 'splitting and assembling batches',
    fn: ['splitUpload', 'assembleBatch', 'checkLines'],
  },
  ...COMMON_LAST,
];

export function summariseProfile(profile, categories) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const categoryOf = new Map();
  const classify = (id) => {
    if (categoryOf.has(id)) return categoryOf.get(id);
    const leaf = byId.get(id).callFrame.functionName;
    const frames = [];
    for (let at = id; at !== undefined; at = parent.get(at)) frames.push(byId.get(at).callFrame);
    const found =
      categories.find(
        (c) =>
          (c.leaf !== undefined && leaf === c.leaf) ||
          (c.fn !== undefined && frames.some((f) => c.fn.includes(f.functionName))) ||
          (c.url !== undefined && frames.some((f) => c.url.test(f.url))),
      )?.key ?? 'other';
    categoryOf.set(id, found);
    return found;
  };
  const us = Object.fromEntries([...categories.map((c) => [c.key, 0]), ['other', 0]]);
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    us[classify(id)] += dt;
    const f = byId.get(id).callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(packages|node_modules)\//, '')}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    self.set(name, (self.get(name) ?? 0) + dt);
  });
  const share = (x) => Math.round((x / total) * 1000) / 10;
  return {
    wallMs: Math.round(total / 1000),
    categories: [...categories, { key: 'other', label: 'everything else' }]
      .map((c) => ({ key: c.key, label: c.label, ms: Math.round(us[c.key] / 1000), share: share(us[c.key]) }))
      .filter((c) => c.share >= 0.5)
      .sort((a, b) => b.ms - a.ms),
    topFunctions: [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([name, t]) => ({ name, share: share(t) })),
  };
}
