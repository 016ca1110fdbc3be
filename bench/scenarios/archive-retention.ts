// Archive and retention: bench/archive-retention.ts (its method is documented at its top)
// run as a child per hot store, its JSON result turned into rows.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Row, Section } from '../lib/report.js';

const SCRIPT = fileURLToPath(new URL('../archive-retention.ts', import.meta.url));

interface Result {
  rows: number;
  parts: number;
  ndjson_mib: number;
  gzip_mib: number;
  baseline_rows_s: number;
  archive_rows_s: number;
  archive_vs_baseline: number;
  retention_s: number;
  retention_rows_s: number;
  retention_batches: number;
  table_rows_at_retention: number;
  ingest_alone_iocs_s: number;
  ingest_during_iocs_s: number;
  ingest_ratio: number;
}

function runScript(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', SCRIPT, ...args],
      { maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', timeout: 60 * 60_000 },
      (err, stdout) => {
        if (err) reject(new Error(`bench/archive-retention.ts failed: ${err.message}`));
        else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Result);
      },
    );
    child.stderr?.pipe(process.stderr);
  });
}

export async function archiveRetention(
  backend: 'postgres' | 'clickhouse',
  options: { rows: number; ingestSeconds: number },
): Promise<Section> {
  const r = await runScript([
    '--backend',
    backend,
    '--rows',
    String(options.rows),
    '--ingest-seconds',
    String(options.ingestSeconds),
  ]);
  const n = (v: number) => Math.round(v).toLocaleString('en');
  const rows: Row[] = [
    {
      figure: `archive.lock, one day of ${n(r.rows)} rows`,
      value: `${n(r.archive_rows_s)} rows/s`,
      baseline: `${n(r.baseline_rows_s)} rows/s (read + gzip, no S3)`,
      ratio: r.archive_vs_baseline,
      note: `${r.ndjson_mib} MiB NDJSON → ${r.gzip_mib} MiB gzip, ${r.parts} parts`,
    },
    {
      figure: 'retention.cleanup of that day',
      value: `${n(r.retention_rows_s)} rows/s (${r.retention_s} s)`,
      note: `${r.retention_batches} batches; ${n(r.table_rows_at_retention)} rows in the table`,
    },
    {
      figure: 'ingest while retention runs',
      value: `${n(r.ingest_during_iocs_s)} IOCs/s`,
      baseline: `${n(r.ingest_alone_iocs_s)} IOCs/s (ingest alone)`,
      ratio: r.ingest_ratio,
    },
  ];
  const name = backend === 'postgres' ? 'PostgreSQL' : 'ClickHouse';
  return {
    id: `archive-retention-${backend}`,
    title: `Archive and retention, ${name}`,
    method: [
      `\`bench/archive-retention.ts --backend ${backend} --rows ${options.rows} --ingest-seconds ${options.ingestSeconds}\`:`,
      `one UTC day 100 days ago holding ${n(options.rows)} rows; \`archive.lock\` of that day into a`,
      "lock-enabled bucket against the same rows read by `streamWindow` and gzip'd to /dev/null",
      '(the ratio is what the Object Lock PUTs, their verification and the ledger cost); then',
      'ingest through the api and a worker (four collectors posting watermark flows of 1,000',
      `IOCs) for ${options.ingestSeconds} s alone and during \`retention.cleanup\` of the archived day. The`,
      "script's header comment has the details.",
    ].join(' '),
    rows,
  };
}
