// @perimeter/sandbox: the Linux session sandbox. So far: preflight.

export {
  BWRAP_PATH,
  assess,
  gatherFacts,
  type Assessment,
  type Check,
  type MachineFacts,
} from './preflight.js';
