// `npm run chaos`: the full chaos run (see test/chaos/harness.ts) against the local
// services; prints the report, writes it to .stowage/chaos/<run>/report.json, and exits 1
// if any check found something (a process exit the run did not cause counts: a crash is a
// failure even when the supervisor restarts it). `--size ci` runs the shorter version the
// test suite runs.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CHAOS_SIZES, chaosFailures, formatReport } from '../test/chaos/sizes.js';
import { runChaos } from '../test/chaos/harness.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'full' },
    'hot-store': { type: 'string', default: 'clickhouse' },
    seed: { type: 'string', default: '20261123' },
  },
});
const size = CHAOS_SIZES[values.size as keyof typeof CHAOS_SIZES];
if (!size) throw new Error(`--size: one of ${Object.keys(CHAOS_SIZES).join(', ')}`);
const hotStore = values['hot-store'];
if (hotStore !== 'postgres' && hotStore !== 'clickhouse')
  throw new Error('--hot-store: postgres or clickhouse');

const runDir = join('.stowage', 'chaos', new Date().toISOString().replace(/[:.]/g, '-'));
await mkdir(runDir, { recursive: true });
const report = await runChaos({
  ...size,
  hotStore,
  seed: Number(values.seed),
  runDir,
  progress: (line) => console.log(`[chaos] ${line}`),
});
await writeFile(join(runDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(formatReport(report));
const failures = chaosFailures(report);
if (failures.length > 0) {
  console.error(`chaos run FAILED: ${failures.join(', ')}\n${report.problems.join('\n')}`);
  process.exit(1);
}
console.log(`chaos run passed; report in ${join(runDir, 'report.json')}`);
process.exit(0);
