/**
 * Every benchmark in one run: each scenario next to its baseline, a table on stdout, and
 * docs/BENCHMARKS.md rewritten with the figures, the machine and this command.
 *
 *   npm run bench [-- --only noop-jobs,api-enqueue] [--quick] [--no-write]
 */
import { parseArgs } from 'node:util';
import { startServices } from '../test/helpers/services.js';
import { markdownTable, type Section } from './lib/report.js';
import { apiEnqueue } from './scenarios/api-enqueue.js';
import { cacheLookup } from './scenarios/cache-lookup.js';
import { iocIngest, workerScaling } from './scenarios/ioc-ingest.js';
import { redisMemory } from './scenarios/redis-memory.js';
import { noopJobs } from './scenarios/noop-jobs.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const quick = values.quick;

const SCENARIOS: Record<string, () => Promise<Section>> = {
  'noop-jobs': () =>
    noopJobs({ concurrencies: [1, 10, 100], jobs: quick ? 2_000 : 10_000, rounds: quick ? 1 : 3 }),
  'ioc-ingest-postgres': () =>
    iocIngest('postgres', { iocs: quick ? 20_000 : 200_000, perRequest: 1_000, concurrency: 4 }),
  'ioc-ingest-clickhouse': () =>
    iocIngest('clickhouse', { iocs: quick ? 20_000 : 200_000, perRequest: 1_000, concurrency: 4 }),
  'cache-lookup': () => cacheLookup({ keys: 10_000, seconds: quick ? 2 : 10, concurrency: 16 }),
  'worker-scaling': () =>
    workerScaling({
      iocs: quick ? 20_000 : 100_000,
      perRequest: 1_000,
      concurrency: 4,
      workers: [1, 2, 4],
    }),
  'redis-memory': () => redisMemory({ jobs: quick ? 2_000 : 12_000, iocsPerInsert: 1_000 }),
  'api-enqueue': () => apiEnqueue({ concurrency: 16, seconds: quick ? 3 : 10, bulkSize: 100 }),
};

async function main() {
  const only = values.only?.split(',');
  for (const id of only ?? []) if (!SCENARIOS[id]) throw new Error(`unknown scenario "${id}"`);
  await startServices();
  const sections: Section[] = [];
  for (const [id, scenario] of Object.entries(SCENARIOS)) {
    if (only && !only.includes(id)) continue;
    process.stderr.write(`[bench] ${id}…\n`);
    const started = Date.now();
    const section = await scenario();
    sections.push(section);
    process.stdout.write(`\n## ${section.title}\n\n${markdownTable(section.rows)}\n`);
    process.stderr.write(`[bench] ${id} done in ${Math.round((Date.now() - started) / 1000)} s\n`);
  }
}

await main();
process.exit(0);
