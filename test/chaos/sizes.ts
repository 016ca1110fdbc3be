// The two sizes of the chaos run: `ci` inside the test suite, `full` for `npm run chaos`
// (the figures in docs/RELIABILITY.md), and how a report is judged and printed.
import type { ChaosOptions, ChaosReport } from './harness.js';

type Size = Pick<ChaosOptions, 'size' | 'faults' | 'workers' | 'drainTimeoutMs'>;

const MiB = 1024 * 1024;

export const CHAOS_SIZES = {
  ci: {
    size: {
      recentRequests: 300,
      oldRequests: 30,
      iocsPerRequest: 20,
      sources: 6,
      recentKeys: 800,
      oldKeys: 200,
      smallArtifacts: 12,
      largeArtifacts: 2,
      largeArtifactBytes: 40 * MiB,
    },
    faults: {
      kills: 3,
      restartRedis: true,
      outages: ['postgres', 'clickhouse', 's3-gateway'],
      outageMs: 8_000,
      rollingRestart: true,
    },
    workers: 2,
    drainTimeoutMs: 5 * 60_000,
  },
  full: {
    size: {
      recentRequests: 1_500,
      oldRequests: 100,
      iocsPerRequest: 40,
      sources: 12,
      recentKeys: 3_000,
      oldKeys: 600,
      smallArtifacts: 60,
      largeArtifacts: 4,
      largeArtifactBytes: 96 * MiB,
    },
    faults: {
      kills: 6,
      restartRedis: true,
      outages: ['postgres', 'clickhouse', 's3-gateway'],
      outageMs: 30_000,
      rollingRestart: true,
    },
    workers: 3,
    drainTimeoutMs: 10 * 60_000,
  },
} satisfies Record<string, Size>;

/** The checks of a report that found something (every one must be 0). */
export function chaosFailures(report: ChaosReport): string[] {
  return Object.entries(report.found)
    .filter(([, n]) => n !== 0)
    .map(([check, n]) => `${check}=${n}`);
}

/** A report as the Markdown table docs/RELIABILITY.md quotes. */
export function formatReport(report: ChaosReport): string {
  const f = report.faults;
  const statuses = Object.entries(report.requests.statuses)
    .sort()
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ');
  const rows: [string, string | number][] = [
    ['hot store', report.hotStore],
    ['duration', `${report.seconds} s`],
    ['jobs acknowledged (202)', report.jobsAcknowledged],
    [
      'by type',
      Object.entries(report.jobsByType)
        .sort()
        .map(([t, n]) => `${t} ${n}`)
        .join(', '),
    ],
    ['jobs retried (attempts beyond the first)', `${report.jobsRetried} (${report.retries})`],
    ['jobs taken back from a dead worker (stalled)', report.jobsStalled],
    [
      'ingest requests / IOCs sent / distinct IOCs',
      `${report.workload.ingestRequests} / ${report.workload.iocsSent} / ${report.workload.distinctIocs}`,
    ],
    ['artifacts / bytes', `${report.workload.artifacts} / ${report.workload.artifactBytes}`],
    [
      'HTTP requests (retries)',
      `${report.requests.sent} (${report.requests.retried}): ${statuses}`,
    ],
    ['kill -9 / SIGTERM / worker starts', `${f.kills} / ${f.sigterms} / ${f.workerStarts}`],
    ['Redis restarts', f.redisRestarts],
    ['outages', f.outages.map((o) => `${o.service} ${o.seconds} s`).join(', ')],
    ...Object.entries(report.found).map(([k, n]): [string, number] => [k, n]),
  ];
  return ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}
