// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

// The layers of docs/ARCHITECTURE.md, as folders (relative to the repository root).
const GROUND = [
  'src/config.ts',
  'src/log.ts',
  'src/metrics.ts',
  'src/errors',
  'src/domain',
  'src/connections',
  'src/stores',
];
const CORE = ['jobs', 'queues'];
const ROOT = 'src/composition';
const ADAPTERS = [
  'src/api',
  'src/http',
  'src/cli',
  'src/cli.ts',
  'src/sdk',
  'dashboard',
  'workers',
  'src/metrics-server.ts',
  'src/running-process.ts',
];
const groundFiles = GROUND;

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.stowage/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // Sources import `./x.js` and mean `./x.ts`: without this no import resolves, and
      // no-cycle and the layer zones below would check nothing.
      'import-x/resolver-next': [
        createNodeResolver({
          extensions: ['.ts', '.js', '.json'],
          extensionAlias: { '.js': ['.ts', '.js'] },
        }),
      ],
    },
    rules: {
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Configuration is read once, by src/config.ts; everything else is handed its values.
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through loadConfig().' },
      ],
    },
  },
  {
    // docs/examples: the README's examples take the api's URL and key from the environment.
    files: ['src/config.ts', 'src/cli.ts', 'test/**', 'bench/**', 'scripts/**', 'docs/examples/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // The arrows of docs/ARCHITECTURE.md. A wrong-way import fails `npm run lint`.
    //   adapters (src/api, src/http, src/cli, src/sdk, dashboard, workers)
    //     → composition root (src/composition) → core (queues, jobs)
    //     → ground (src/stores, src/connections, src/domain, src/errors, config, log, metrics)
    files: [
      'src/**/*.ts',
      'jobs/**/*.ts',
      'queues/**/*.ts',
      'workers/**/*.ts',
      'dashboard/**/*.ts',
    ],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          basePath: import.meta.dirname,
          zones: [
            ...groundFiles.map((target) => ({
              target,
              from: [...CORE, ROOT, ...ADAPTERS],
              message:
                'The ground layer (stores, connections, domain, errors, config) knows no job, queue, root or adapter.',
            })),
            {
              target: ['src/domain', 'src/errors'],
              from: ['src/stores', 'src/connections', 'src/metrics.ts'],
              message: 'The domain and the errors are pure: no backend.',
            },
            {
              target: CORE,
              from: [ROOT, ...ADAPTERS],
              message: 'The core (jobs, queues, use cases) knows no process, root or adapter.',
            },
            {
              target: [ROOT],
              from: ADAPTERS,
              message: 'The composition root builds for adapters; it does not import them.',
            },
            {
              target: ['src/cli'],
              from: ['src/api', 'src/http', 'dashboard', 'workers'],
              message: 'The operator CLI calls use cases, never routes, express or a process.',
            },
            {
              // src/cli.ts launches the processes (`stowage api|worker|…`): it may start the
              // api's server, never reach into its routes.
              target: ['src/cli.ts'],
              from: ['src/api'],
              except: ['./server.ts'],
              message: 'src/cli.ts starts the api (src/api/server.ts), never its routes.',
            },
            {
              target: ['src/cli.ts'],
              from: ['src/http', 'dashboard/bull-board.ts'],
              message: 'src/cli.ts starts processes; it serves no HTTP itself.',
            },
            {
              target: ['dashboard'],
              from: ['src/api', 'src/cli', 'src/cli.ts', 'workers'],
              message: 'The dashboard shares only src/http with the api.',
            },
            {
              target: ['workers'],
              from: ['src/api', 'src/http', 'src/cli', 'src/cli.ts', 'dashboard'],
              message: 'Worker processes are not HTTP adapters.',
            },
            {
              target: ['src/api', 'src/http'],
              from: ['src/cli', 'src/cli.ts', 'workers'],
              message: 'The api does not import other processes.',
            },
            {
              target: ['src/sdk'],
              from: [
                'src/api',
                'src/http',
                'src/cli',
                'src/cli.ts',
                'src/stores',
                'src/connections',
                'src/composition',
                'queues',
                'workers',
                'dashboard',
                'src/config.ts',
              ],
              message: 'The SDK is a fetch client: it shares only src/domain and src/errors.',
            },
            {
              // Payload types only (`import type`): a payload the api would refuse does not compile.
              target: ['src/sdk'],
              from: ['jobs'],
              except: ['./job-definition.ts', './job-registry.ts', './registry.ts'],
              message:
                'The SDK takes payload types from the job definitions, nothing else from jobs/.',
            },
          ],
        },
      ],
    },
  },
  // Which libraries each layer may speak (the SDKs stay in their stores, express in the HTTP adapters).
  ...[
    {
      files: ['src/domain/**', 'src/errors/**', 'src/stores/**', 'src/connections/**'],
      banned: ['express', 'bullmq', '@bull-board/*'],
      why: 'the ground layer knows no queue and no HTTP framework',
    },
    {
      files: ['jobs/**', 'queues/**'],
      banned: ['express', '@bull-board/*', '@aws-sdk/*'],
      why: 'the core speaks S3 through src/stores/s3 and HTTP through no one',
    },
    {
      files: ['src/composition/**'],
      banned: ['express', '@bull-board/*'],
      why: 'the root builds clients and stores; the HTTP adapters mount themselves',
    },
    {
      files: ['src/cli/**', 'src/cli.ts', 'workers/**'],
      banned: ['express', '@bull-board/*', '@aws-sdk/*'],
      why: 'the CLI and the workers call use cases and stores, not HTTP or an SDK',
    },
    {
      files: ['src/sdk/**'],
      banned: [
        'express',
        'bullmq',
        'ioredis',
        'pg',
        '@aws-sdk/*',
        '@clickhouse/client',
        '@bull-board/*',
      ],
      why: 'the SDK is a fetch client with no server dependency',
    },
  ].map(({ files, banned, why }) => ({
    files,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: banned, message: `Not here: ${why}.`, allowTypeImports: false }] },
      ],
    },
  })),
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
