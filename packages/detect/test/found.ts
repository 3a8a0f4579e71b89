// What a scan finds, in the few fields tests compare: shared by the tests of hidden readings.

import { scan } from '../src/index.js';

/** What a scan with decode finds in `text`: rule, confidence, fingerprint, encoding, what it spans. */
export const found = (text: string): (string | undefined)[][] =>
  scan(text, { decode: true }).map((f) => [
    f.rule,
    f.confidence,
    f.fingerprint,
    f.encoding,
    text.slice(f.start, f.end),
  ]);
