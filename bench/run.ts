/**
 * Every benchmark in one run: each scenario next to its baseline, a table on stdout, and
 * docs/BENCHMARKS.md rewritten with the figures, the machine and this command.
 *
 *   npm run bench                          # everything (about 10 minutes here), rewrites the doc
 *   npm run bench -- --only noop-jobs,api-enqueue   # some scenarios, printed only
 *   npm run bench -- --quick               # small sizes, printed only (a smoke run)
 *
 * The analysis at the end of docs/BENCHMARKS.md (between its analysis markers) is written
 * by people and kept as it is when the rest is regenerated.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { startServices } from '../test/helpers/services.js';
import { goalCell, machineFacts, markdownTable, type Section } from './lib/report.js';
import { activityIngest } from './scenarios/activity-ingest.js';
import { apiEnqueue } from './scenarios/api-enqueue.js';
import { archiveRetention } from './scenarios/archive-retention.js';
import { artifactUpload } from './scenarios/artifact-upload.js';
import { cacheLookup } from './scenarios/cache-lookup.js';
import { fairness } from './scenarios/fairness.js';
import { jobSearch } from './scenarios/job-search.js';
import { iocIngest, workerScaling } from './scenarios/ioc-ingest.js';
import { noopJobs } from './scenarios/noop-jobs.js';
import { redisMemory } from './scenarios/redis-memory.js';
import { recordSearch } from './scenarios/record-search.js';
import { search } from './scenarios/search.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick;

const SCENARIOS: Record<string, () => Promise<Section>> = {
  'noop-jobs': () =>
    noopJobs({ concurrencies: [1, 10, 100], jobs: quick ? 2_000 : 10_000, rounds: quick ? 1 : 3 }),
  'api-enqueue': () => apiEnqueue({ concurrency: 16, seconds: quick ? 3 : 10, bulkSize: 100 }),
  'ioc-ingest-postgres': () =>
    iocIngest('postgres', {
      iocs: quick ? 20_000 : 200_000,
      perRequest: 1_000,
      concurrency: 4,
      rounds: quick ? 1 : 3,
    }),
  'ioc-ingest-clickhouse': () =>
    iocIngest('clickhouse', {
      iocs: quick ? 20_000 : 100_000,
      perRequest: 1_000,
      concurrency: 4,
      rounds: quick ? 1 : 3,
    }),
  'activity-ingest-postgres': () =>
    activityIngest('postgres', {
      events: quick ? 20_000 : 200_000,
      perRequest: 1_000,
      concurrency: 4,
    }),
  'activity-ingest-clickhouse': () =>
    activityIngest('clickhouse', {
      events: quick ? 20_000 : 100_000,
      perRequest: 1_000,
      concurrency: 4,
    }),
  'artifact-upload': () => artifactUpload({ sizeMiB: quick ? 64 : 1024, runs: quick ? 1 : 3 }),
  'artifact-upload-small': () => artifactUpload({ sizeMiB: quick ? 16 : 256, runs: 1 }),
  'cache-lookup': () => cacheLookup({ keys: 10_000, seconds: quick ? 2 : 10, concurrency: 16 }),
  search: () => search({ rows: quick ? 100_000 : 1_000_000, runs: quick ? 10 : 30 }),
  'record-search': () => recordSearch({ rows: quick ? 20_000 : 1_000_000, runs: quick ? 20 : 100 }),
  'worker-scaling': () =>
    workerScaling({
      iocs: quick ? 20_000 : 100_000,
      perRequest: 1_000,
      concurrency: 4,
      workers: [1, 2, 4],
    }),
  'redis-memory': () =>
    redisMemory({
      jobs: { 'watermark.commit': quick ? 1_000 : 12_000, 'iocs.insert': quick ? 200 : 1_000 },
      iocsPerInsert: [1_000, 5_000],
    }),
  'archive-retention-postgres': () =>
    archiveRetention('postgres', {
      rows: quick ? 20_000 : 500_000,
      ingestSeconds: quick ? 10 : 30,
    }),
  'job-search': () => jobSearch({ jobs: quick ? 10_000 : 100_000, runs: quick ? 50 : 200 }),
  fairness: () => fairness({ backlog: quick ? 20_000 : 200_000, perRequest: 10_000, batch: 1_000 }),
  'archive-retention-clickhouse': () =>
    archiveRetention('clickhouse', {
      rows: quick ? 20_000 : 100_000,
      ingestSeconds: quick ? 10 : 30,
    }),
};

const DOC = fileURLToPath(new URL('../docs/BENCHMARKS.md', import.meta.url));
const ANALYSIS = /<!-- analysis:start -->[\s\S]*<!-- analysis:end -->/;

/** docs/BENCHMARKS.md from a full run, keeping the hand-written analysis. */
function document(sections: Section[], facts: string, minutes: number): string {
  let previous = '';
  try {
    previous = readFileSync(DOC, 'utf8');
  } catch {
    // No document yet: the analysis starts empty.
  }
  const analysis =
    ANALYSIS.exec(previous)?.[0] ??
    '<!-- analysis:start -->\n\n## What the figures say\n\n(To be written after a run.)\n\n<!-- analysis:end -->';
  const goals = sections.flatMap((s) =>
    s.rows
      .filter((r) => r.goal !== undefined)
      .map((r) => ({ ...r, figure: `${s.title}: ${r.figure}` })),
  );
  const date = new Date().toISOString().slice(0, 10);
  return [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.ts) except the analysis at the end. -->',
    '',
    'Every figure is measured next to a baseline in the same run on the same machine, so',
    'machine noise mostly cancels; latencies are given with their percentile. One command',
    'reproduces this page (it starts the local services, runs every scenario and rewrites',
    `the file; about ${Math.ceil(minutes)} minutes here):`,
    '',
    '```sh',
    'npm run bench',
    '```',
    '',
    `Measured ${date} on this machine: ${facts} Other processes of the same machine were`,
    'not stopped for the run, so figures move by some percent between runs; the ratios move',
    'less than the absolute values.',
    '',
    '## Goals',
    '',
    markdownTable(goals).replace(/\| goal +\|/, (m) => m),
    '',
    ...sections.flatMap((s) => [
      `## ${s.title}`,
      '',
      s.method,
      '',
      markdownTable(s.rows),
      '',
      ...(s.findings ?? []).flatMap((f) => [f, '']),
    ]),
    analysis,
    '',
  ].join('\n');
}

async function main() {
  const only = values.only?.split(',');
  for (const id of only ?? []) if (!SCENARIOS[id]) throw new Error(`unknown scenario "${id}"`);
  await startServices();
  const facts = machineFacts();
  const started = Date.now();
  const sections: Section[] = [];
  for (const [id, scenario] of Object.entries(SCENARIOS)) {
    if (only && !only.includes(id)) continue;
    process.stderr.write(`[bench] ${id}…\n`);
    const t = Date.now();
    const section = await scenario();
    sections.push(section);
    process.stdout.write(`\n## ${section.title}\n\n${markdownTable(section.rows)}\n`);
    process.stderr.write(`[bench] ${id} done in ${Math.round((Date.now() - t) / 1000)} s\n`);
  }
  const minutes = (Date.now() - started) / 60_000;
  const results = fileURLToPath(new URL('../.stowage/bench/', import.meta.url));
  mkdirSync(results, { recursive: true });
  const file = `${results}${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify({ facts, quick, sections }, null, 2));
  process.stderr.write(`[bench] results in ${file}\n`);
  if (only || quick) {
    process.stderr.write('[bench] a partial or quick run: docs/BENCHMARKS.md left as it is\n');
    return;
  }
  const text = document(sections, facts, minutes);
  // Formatted as the repository formats Markdown, so `npm run format:check` stays green.
  writeFileSync(DOC, await format(text, { ...(await resolveConfig(DOC)), filepath: DOC }));
  process.stderr.write(`[bench] docs/BENCHMARKS.md rewritten (${goalSummary(sections)})\n`);
}

function goalSummary(sections: Section[]): string {
  const goals = sections.flatMap((s) => s.rows.filter((r) => r.goal !== undefined));
  const met = goals.filter((r) => goalCell(r).endsWith('met') && !goalCell(r).includes('not'));
  return `${met.length} of ${goals.length} goals met`;
}

await main();
process.exit(0);
