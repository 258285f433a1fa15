// Lint: typescript-eslint's recommended type-aware rules plus the rules of hooks.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', 'test-artifacts/**', 'shared/src/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      ...reactHooks.configs.recommended.rules,
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Tokens live in memory only; preferences go through shared/src/prefs.ts.
      'no-restricted-globals': ['error', { name: 'localStorage', message: 'use shared/src/prefs.ts (tokens never go to storage)' }, { name: 'sessionStorage', message: 'tokens live in memory only' }],
      'no-restricted-properties': ['error', { object: 'window', property: 'localStorage', message: 'use shared/src/prefs.ts' }, { object: 'window', property: 'sessionStorage', message: 'tokens live in memory only' }],
    },
  },
  {
    files: ['scripts/**/*.{mjs,ts}', 'e2e/**/*.{mjs,ts}', '*.config.{js,ts}', '**/vite.config.ts'],
    // e2e files also hold functions that run inside the page.
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
