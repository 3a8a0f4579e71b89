// Terminal output: colour only on a TTY (and never with NO_COLOR), one place that writes.

import type { Effect } from '@perimeter/policy';

export interface Ui {
  out(text: string): void;
  err(text: string): void;
  readonly isColor: boolean;
}

export function terminalUi(): Ui {
  const isColor =
    process.stdout.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    isColor,
  };
}

const CODES = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof CODES;

export function paint(ui: Ui, colour: Colour, text: string): string {
  return ui.isColor ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text;
}

export function paintEffect(ui: Ui, effect: Effect, text: string = effect): string {
  return paint(ui, effect === 'allow' ? 'green' : effect === 'ask' ? 'yellow' : 'red', text);
}

/** Exit codes of decision commands: 0 allow, 1 deny, 2 ask (3 is invalid input or policy). */
export function exitCodeOf(effect: Effect): number {
  return effect === 'allow' ? 0 : effect === 'deny' ? 1 : 2;
}
