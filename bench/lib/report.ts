// What a scenario reports, and how the harness prints it and writes docs/BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { cpus, freemem, loadavg, totalmem } from 'node:os';

/** One line of a scenario's table: a Stowage figure, its baseline and their ratio. */
export interface Row {
  figure: string;
  /** Stowage's value, formatted with its unit. */
  value: string;
  baseline?: string;
  /** Stowage ÷ baseline (higher is better) when there is a baseline. */
  ratio?: number;
  /** The goal as a minimum ratio; `met` is computed from it. */
  goal?: number;
  note?: string;
}

/** A scenario's result: its rows and how they were measured, in words. */
export interface Section {
  id: string;
  title: string;
  method: string;
  rows: Row[];
  /** Paragraphs after the table: what the figures mean, what is not met and why. */
  findings?: string[];
}

export function goalCell(row: Row): string {
  if (row.goal === undefined || row.ratio === undefined) return '';
  const met = row.ratio >= row.goal;
  return `≥ ${row.goal.toFixed(2)}: ${met ? 'met' : '**not met**'}`;
}

function ratioCell(row: Row): string {
  return row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}×`;
}

/** A Markdown table of a section's rows (prettier-stable: padded columns). */
export function markdownTable(rows: readonly Row[]): string {
  const header = ['figure', 'Stowage', 'baseline (same run)', 'ratio', 'goal', 'note'];
  const cells = rows.map((r) => [
    r.figure,
    r.value,
    r.baseline ?? '',
    ratioCell(r),
    goalCell(r),
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => width(c[i]!))));
  const line = (cols: string[]) =>
    `| ${cols.map((c, i) => c + ' '.repeat(widths[i]! - width(c))).join(' | ')} |`;
  return [
    line(header),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...cells.map(line),
  ].join('\n');
}

// Prettier pads by string width; the figures here are BMP text, so length is the width.
const width = (s: string) => [...s].length;

/** The machine a run was made on, in one paragraph. */
export function machineFacts(): string {
  const cpu = cpus();
  const version = (cmd: string, args: string[], pattern: RegExp) => {
    try {
      const out = execFileSync(cmd, args, {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      return pattern.exec(out)?.[1] ?? '?';
    } catch {
      return '?';
    }
  };
  const gib = (bytes: number) => (bytes / 1024 ** 3).toFixed(1);
  return [
    `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ${gib(totalmem())} GiB RAM`,
    `(${gib(freemem())} GiB free at the start), 1-minute load average at the start`,
    `${loadavg()[0]!.toFixed(2)}; Node ${process.versions.node};`,
    `Redis ${version('redis-server', ['--version'], /v=(\S+)/)},`,
    `PostgreSQL ${version('/usr/lib/postgresql/15/bin/postgres', ['--version'], /(\d+\.\d+)/)}`,
    '(`fsync=off`, a throwaway server),',
    `ClickHouse ${version('dpkg-query', ['-W', '-f=${Version}', 'clickhouse-server'], /^(\d+\.\d+\.\d+)/)},`,
    `Ceph RGW ${version('radosgw', ['--version'], /version (\S+)/)} on a memstore OSD.`,
  ].join(' ');
}
