// perimeter secret: being written (issue 4); until then it refuses to run.

import { UserError } from '../errors.js';
import type { Ui } from '../ui.js';

const notYet = (): number => {
  throw new UserError('perimeter secret is not built yet', 'see issue 4');
};
export const runSecretSet = (_argv: readonly string[], _ui: Ui): number => notYet();
export const runSecretLs = (_argv: readonly string[], _ui: Ui): number => notYet();
export const runSecretRm = (_argv: readonly string[], _ui: Ui): number => notYet();
