// One lint config for the whole repo: strict, type-aware rules for TypeScript, plus the boundary
// fences of DESIGN.md (pure packages never touch Node I/O).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { NODE_IO_MODULES } from './tools/node-io.mjs';

// Our own pure code may not even import `process` (a dependency reading process.env is tolerated).
const NODE_IO = [...NODE_IO_MODULES, 'process'];
const nodeIoPaths = NODE_IO.flatMap((m) => [m, `node:${m}`, `${m}/promises`, `node:${m}/promises`]);
const typed = (config) => ({ ...config, files: ['**/*.ts'] });

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'tmp/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map(typed),
  typed({
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['it', 'test', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  }),
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  {
    // The executable is CommonJS (packages/cli/bin/package.json): it starts faster.
    files: ['packages/cli/bin/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly' } },
  },
  {
    // DESIGN.md: policy and detect are pure. They never import Node's I/O modules nor touch process.
    files: ['packages/policy/src/**/*.ts', 'packages/detect/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeIoPaths.map((name) => ({
            name,
            message: 'policy and detect are pure: no Node I/O (DESIGN.md)',
          })),
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'policy and detect are pure: pass what you need as data' },
      ],
    },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/cli/src/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'only the CLI entry exits the process' },
      ],
    },
  },
);
