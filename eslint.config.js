// Lint rules: typed TypeScript everywhere, plus Temporal's workflow-sandbox rules for workflows/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', 'data/', 'bench/out/', 'cli/lifeboat.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O libraries,
    // and activities are imported only as types.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code must not use Node built-ins.',
          })),
          patterns: [
            {
              group: [
                'pg',
                'execa',
                'tar-stream',
                '@temporalio/activity',
                '@temporalio/client',
                '@temporalio/worker',
              ],
              message: 'Workflow code must not import I/O libraries.',
            },
            {
              group: [
                '../activities/**',
                '../catalog/**',
                '../storage/**',
                '../postgres/**',
                '../archive/**',
                '../services/**',
                '../config/**',
              ],
              allowTypeImports: true,
              message: 'Import activities and I/O modules only as types.',
            },
          ],
        },
      ],
    },
  },
  {
    // domain/ is bundled into the workflow sandbox too: pure, no Node built-ins, no Node globals.
    files: ['domain/**/*.ts', 'workflows/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['Buffer', 'process', '__dirname', 'require'].map((name) => ({
          name,
          message: 'Workflow-bundled code runs without Node globals.',
        })),
      ],
    },
  },
  {
    files: ['domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'domain/ is pure: no Node built-ins.' })),
          patterns: [
            {
              group: ['../*/**', '!../domain/**', '../../*/**'],
              message: 'domain/ imports only domain/ (and pure libraries).',
            },
          ],
        },
      ],
    },
  },
);
