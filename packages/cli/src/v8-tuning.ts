// A serving command's switch to V8's shorter optimization budget, once its start-up is done
// (bin/v8-tuning.js says why, and what it saves). The executable leaves the switch on globalThis
// before the command loads; run in process without it (the tests call commands directly),
// nothing changes.

/** From now on V8 optimizes sooner: for `perimeter mcp`, `run`, `proxy` and `server` once they serve. */
export function optimizeSooner(): void {
  (globalThis as Record<symbol, (() => void) | undefined>)[Symbol.for('perimeter.tuneV8')]?.();
}
