// Values that stand in for a secret rather than being one: templates (${VAR}, {{ var }}, <KEY>,
// %(name)s), masks (****, xxxx, ....), documentation examples (AWS's AKIAIOSFODNN7EXAMPLE) and
// keyboard fillers (1234567890abcdef…). Reporting them would drown real findings in config
// templates and docs (gitleaks' global allowlist and CredData's "Template" label make the same cut).

// Documented example credentials: AWS's, and the key ids its docs pair with them; jwt.io's.
const WELL_KNOWN_EXAMPLES = [
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'AKIAI44QH8DHBEXAMPLE',
  'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
  'ASIAIOSFODNN7EXAMPLE',
  // The signature of jwt.io's example token ("your-256-bit-secret"), copied into countless docs and tests.
  'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
];

const TEMPLATE =
  /\$\{[^}]*\}|\{\{[^}]*\}\}|<[A-Za-z_][^<>]{0,60}>|%\([A-Za-z_]+\)s|\$\([^)]*\)|#\{[^}]*\}|^\$[A-Za-z_][A-Za-z0-9_]*$|^%[A-Za-z_][A-Za-z0-9_]*%$/;
const MASK = /\*{3,}|x{4,}|X{4,}|\.{3,}|\u2022{3,}|_{5,}|#{4,}|-{5,}/;
// Words that mark a value as a stand-in when they appear inside it.
const STAND_IN =
  /example|placeholder|your[_-]?(?:own[_-]?)?(?:api|key|secret|token|pass|access)|changeme|change[_-]me|replace[_-]?me|dummy|redacted|insert[_-]?(?:your|here)|^(?:fake|sample|test|todo|none|null|nil|undefined|secret|password|token)$/i;

/** Whether a run of `length` characters of `value` steps through the alphabet or digits (abcdefgh…). */
function hasSequentialRun(value: string, length: number): boolean {
  let run = 1;
  for (let i = 1; i < value.length; i++) {
    const step = value.charCodeAt(i) - value.charCodeAt(i - 1);
    run = step === 1 ? run + 1 : 1;
    if (run >= length) return true;
  }
  return false;
}

function isOneCharacterRepeated(value: string): boolean {
  for (let i = 1; i < value.length; i++) if (value[i] !== value[0]) return false;
  return true;
}

/** Whether `value` is a template, mask, documentation example or filler rather than a secret. */
export function isPlaceholder(value: string): boolean {
  if (value.length === 0) return true;
  if (WELL_KNOWN_EXAMPLES.some((example) => value.includes(example))) return true;
  if (isOneCharacterRepeated(value)) return true;
  if (TEMPLATE.test(value) || MASK.test(value) || STAND_IN.test(value)) return true;
  // 8 ascending characters ("12345678", "abcdefgh") occur in a random 40-character token with
  // odds far below one in a billion; in hand-written fillers they are the norm.
  return hasSequentialRun(value, 8);
}
