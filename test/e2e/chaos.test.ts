// The CI-sized chaos run (`npm run chaos` is the full one): the api and two workers as
// processes, a mixed workload, and kill -9, a Redis restart, PostgreSQL, ClickHouse and
// S3 outages and a rolling restart during uploads. Judged on the sinks, and on the
// processes: an exit the run did not cause is a crash, even though the supervisor restarts it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runChaos } from '../chaos/harness.js';
import { CHAOS_SIZES, chaosFailures, formatReport } from '../chaos/sizes.js';

it(
  'every acknowledged job completes exactly once in its sink through kills, restarts and outages',
  async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'stowage-chaos-'));
    const report = await runChaos({
      ...CHAOS_SIZES.ci,
      hotStore: 'clickhouse',
      seed: 6,
      runDir,
      progress: (line) => console.log(`[chaos] ${line}`),
    });
    console.log(formatReport(report));
    const failures = chaosFailures(report);
    // The problems in words, and the run's logs kept for a post-mortem, when a check failed.
    expect(failures, `${report.problems.join('\n')}\nlogs: ${runDir}`).toEqual([]);
    // No backend error took a process down: every exit was the run's own kill or SIGTERM.
    expect(report.found.processCrashes).toBe(0);
    // The faults really happened, and really bit.
    expect(report.faults.kills).toBe(CHAOS_SIZES.ci.faults.kills);
    expect(report.faults.sigterms).toBe(CHAOS_SIZES.ci.workers);
    expect(report.faults.redisRestarts).toBe(1);
    expect(report.faults.outages.map((o) => o.service)).toEqual(CHAOS_SIZES.ci.faults.outages);
    expect(report.retries).toBeGreaterThan(0);
    expect(report.jobsAcknowledged).toBeGreaterThan(600);
    await rm(runDir, { recursive: true, force: true });
  },
  20 * 60_000,
);
