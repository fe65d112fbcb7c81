// ESLint for the TypeScript side (`npm run lint`): typescript-eslint's recommended rules, and the
// rule that keeps workflow code replayable. Style is Prettier's job (.prettierrc.json), not ESLint's.
import { builtinModules } from 'node:module';
import { fileURLToPath, URL } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node built-ins, bare and `node:`: never in workflow code, not even as types. */
const builtins = [...new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))];
const nodeBuiltins = {
  paths: builtins.map((name) => ({
    name,
    message: 'workflow code runs in Temporal’s sandbox: no Node APIs (do this in an activity)',
    allowTypeImports: false,
  })),
};
/** Start of a regex for package imports: not relative, not a built-in (those are `paths` above). */
const PACKAGE = `^(?![./]|node:|(?:${builtinModules.join('|')})(?:/|$)`;

/** Workflow code may only take code from workflows/, lib/workflowSafe/ and Temporal's workflow packages. */
const workflowImports = (patterns) => [
  'error',
  {
    ...nodeBuiltins,
    patterns: patterns.map(([regex, message]) => ({ regex, message, allowTypeImports: true })),
  },
];

export default defineConfig(
  {
    ignores: [
      'node_modules/',
      '.venv/',
      '.vibeserve/',
      '.carry/',
      '.tools/',
      'dist/',
      'python-runtime/',
      'bench/',
      'docs/',
      'test/fixtures/',
    ],
  },
  js.configs.recommended,
  // Type-aware rules (floating promises, misused promises, await of non-thenables...) on the TypeScript
  // files, through tsconfig.json (vitest.config.ts, outside it, through a default project).
  { files: ['**/*.ts'], extends: [tseslint.configs.recommendedTypeChecked] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url)), // import.meta.dirname needs Node 20.11
      },
    },
  },
  { files: ['**/*.js', '**/*.mjs'], extends: [tseslint.configs.recommended] },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    // `const { dropped, ...rest } = o` is how the code leaves a field out of a copy
    rules: { '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }] },
  },
  {
    files: ['**/*.ts'],
    rules: {
      // JSON from disk, the LLM and the Python verbs is `any`/loosely typed at its boundary on purpose (325 findings)
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // `xs[i]!` is written for noUncheckedIndexedAccess (issue 21), which would make it necessary (191 findings)
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // async functions without await implement async interfaces (activities, test doubles) (14 findings)
      '@typescript-eslint/require-await': 'off',
      // String(x ?? '') of untrusted JSON (LLM tool arguments) is deliberate (5 findings)
      '@typescript-eslint/no-base-to-string': 'off',
      // templates of JSON values and of variables TS narrows to never across callbacks (4 findings)
      '@typescript-eslint/restrict-template-expressions': 'off',
      // `Known | string` unions name the known values on purpose (1 finding)
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      // an AbortSignal's reason (typed any) is the rejection reason (1 finding)
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true }],
    },
  },
  {
    // reports and exports read candidates' JSON back from disk untyped (11 findings)
    files: ['lib/report/**', 'lib/export/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Workflow code (also checked, dynamic import() included, by test/unit/workflowImports.test.ts)
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': workflowImports([
        [
          '^\\.\\./(?!lib/workflowSafe/)',
          'outside lib/workflowSafe/: import it as a type, or make it pure and move it there',
        ],
        [`${PACKAGE}|@temporalio/(?:workflow|common)$)`, 'a package workflow code may not run (import it as a type)'],
      ]),
    },
  },
  {
    files: ['lib/workflowSafe/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': workflowImports([
        ['^\\.\\./(?!.*\\.json$)', 'lib/workflowSafe/ takes code only from itself (types and JSON data excepted)'],
        [`${PACKAGE})`, 'lib/workflowSafe/ runs no packages (import it as a type)'],
      ]),
    },
  },
);
