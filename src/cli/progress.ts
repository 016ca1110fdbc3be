import { terminalSafe } from './terminal-text.js';

/** Where progress goes: stderr, or a fake stream in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** The percentage in a BullMQ job progress: a number, or an object with `percent`. */
export function progressPercent(progress: unknown): number | undefined {
  const raw =
    typeof progress === 'number'
      ? progress
      : typeof progress === 'object' && progress !== null && 'percent' in progress
        ? Number(progress.percent)
        : undefined;
  return raw === undefined || !Number.isFinite(raw) ? undefined : Math.max(0, Math.min(100, raw));
}

/** The other fields of an object progress as `key=value` pairs (`batch=3 deleted=1200`). */
export function progressDetail(progress: unknown): string {
  if (typeof progress !== 'object' || progress === null) return '';
  return Object.entries(progress)
    .filter(([key]) => key !== 'percent')
    .map(
      ([key, value]) =>
        `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
    )
    .join(' ');
}

/** A bar of `width` cells for a percentage: `[#########.....................]  30%`. */
export function renderBar(percent: number, width = 30): string {
  const p = Math.max(0, Math.min(100, percent));
  const filled = Math.round((p / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(p)).padStart(3)}%`;
}

/**
 * Shows progress on a stream: a bar redrawn in place when the stream is a terminal, and
 * otherwise plain lines at most every `intervalMs` (plus the last one), so logs and CI
 * output stay readable.
 */
export class ProgressReporter {
  private lastLine = '';
  private lastWrittenAt = -Infinity;
  private pending: string | undefined;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly options: { label: string; intervalMs?: number; now?: () => number },
  ) {}

  /** Reports a new percentage with an optional detail (`12/40`). */
  update(percent: number, detail = ''): void {
    // The detail comes from the job's progress data: controls shown, not sent.
    const text = terminalSafe(
      `${this.options.label} ${renderBar(percent)}${detail ? ` ${detail}` : ''}`,
    );
    if (this.stream.isTTY) {
      if (text === this.lastLine) return;
      // \x1b[K clears what a longer previous line left behind.
      this.stream.write(`\r${text}\x1b[K`);
      this.lastLine = text;
      this.drawn = true;
      return;
    }
    const plain = `${this.options.label} ${Math.round(Math.max(0, Math.min(100, percent)))}%${detail ? ` ${detail}` : ''}`;
    const now = (this.options.now ?? Date.now)();
    if (plain === this.lastLine) return;
    if (now - this.lastWrittenAt >= (this.options.intervalMs ?? 1_000)) {
      this.stream.write(`${plain}\n`);
      this.lastLine = plain;
      this.lastWrittenAt = now;
      this.pending = undefined;
    } else {
      this.pending = plain;
    }
  }

  /** Ends the bar's line, or writes the last plain line that the interval held back. */
  done(): void {
    if (this.stream.isTTY) {
      if (this.drawn) this.stream.write('\n');
      this.drawn = false;
      return;
    }
    if (this.pending !== undefined) this.stream.write(`${this.pending}\n`);
    this.pending = undefined;
  }
}
