// The scanners compared by `npm run bench:detect`, each behind one function: text → findings
// [{rule, family, span}] (Perimeter's with their fingerprint too), plus a synchronous or
// asynchronous flag.
//
// - Perimeter: @perimeter/detect's scan(), default options and with decoding.
// - secretlint with @secretlint/secretlint-rule-preset-recommend: its core `lintSource` (the
//   function its CLI and @secretlint/node call for every file) with the preset loaded once, so no
//   file I/O, config search or formatting is timed. Its rule ids are mapped to our families; its
//   "filter-comments" rule only suppresses others and reports nothing.

import { scan } from '@perimeter/detect';
import { lintSource } from '@secretlint/core';
import * as preset from '@secretlint/secretlint-rule-preset-recommend';

export const perimeter = {
  name: 'perimeter',
  isAsync: false,
  find: (text) =>
    scan(text).map((f) => ({
      rule: f.rule,
      family: f.family,
      span: [f.start, f.end],
      fingerprint: f.fingerprint,
    })),
};

export const perimeterDecode = {
  name: 'perimeter (decode)',
  isAsync: false,
  find: (text) =>
    scan(text, { decode: true }).map((f) => ({
      rule: f.rule,
      family: f.family,
      span: [f.start, f.end],
      fingerprint: f.fingerprint,
    })),
};

const SECRETLINT_FAMILIES = {
  aws: 'aws',
  gcp: 'gcp',
  privatekey: 'private_key',
  'secp256k1-privatekey': 'private_key',
  npm: 'npm',
  basicauth: 'generic',
  slack: 'slack',
  sendgrid: 'sendgrid',
  shopify: 'shopify',
  github: 'github',
  openai: 'openai',
  anthropic: 'anthropic',
  linear: 'linear',
  '1password': '1password',
  'database-connection-string': 'database',
};

const config = { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: preset.creator }] };

export const secretlint = {
  name: 'secretlint',
  isAsync: true,
  async find(text) {
    const result = await lintSource({
      source: { filePath: '/corpus/record.txt', content: text, ext: '.txt', contentType: 'text' },
      options: { config, maskSecrets: true, noPhysicFilePath: true },
    });
    return result.messages.map((m) => {
      const short = m.ruleId.replace(/^@secretlint\/secretlint-rule-/, '');
      // A preset reports under its own id with the inner rule in `ruleParentId` on some versions.
      const inner = (m.ruleParentId ? m.ruleId : short).replace(/^@secretlint\/secretlint-rule-/, '');
      return { rule: m.ruleId, family: SECRETLINT_FAMILIES[inner] ?? inner, span: m.range };
    });
  },
};
