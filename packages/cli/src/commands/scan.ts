// perimeter scan: being written (issue 4); until then it refuses to run rather than report nothing.

import { UserError } from '../errors.js';
import type { Ui } from '../ui.js';

export function runScan(_argv: readonly string[], _ui: Ui): number {
  throw new UserError('perimeter scan is not built yet', 'see issue 4');
}
