import { describe, expect, it } from 'vitest';
import {
  ProgressReporter,
  progressDetail,
  progressPercent,
  renderBar,
} from '../../src/cli/progress.js';
import { formatCounts, type QueueCounts } from '../../src/cli/queue-commands.js';
import { cell, formatFields, formatTable } from '../../src/cli/table.js';
import { terminalSafe, terminalSafeJson } from '../../src/cli/terminal-text.js';

describe('tables', () => {
  it('aligns columns to the widest cell, without trailing spaces', () => {
    expect(
      formatTable(
        ['ID', 'QUEUE'],
        [
          ['a', 'ingest'],
          ['longer-id', 'cache'],
        ],
      ),
    ).toBe(['ID         QUEUE', 'a          ingest', 'longer-id  cache'].join('\n'));
    expect(formatTable(['A', 'B'], [['x', '']])).toBe('A  B\nx');
  });

  it('aligns record fields after their names', () => {
    expect(
      formatFields([
        ['state', 'failed'],
        ['failed reason', 'boom'],
      ]),
    ).toBe('state:          failed\nfailed reason:  boom');
  });

  it('shows nothing as -, objects as JSON and multi-line text on one line', () => {
    expect(cell(null)).toBe('-');
    expect(cell('')).toBe('-');
    expect(cell({ rows: 3 })).toBe('{"rows":3}');
    expect(cell('line one\n  line two')).toBe('line one line two');
    expect(cell(42)).toBe('42');
  });

  it('counts show one row per queue with its state and every count column', () => {
    const row: QueueCounts = {
      queue: 'ingest',
      is_paused: true,
      counts: {
        waiting: 3,
        active: 0,
        delayed: 1,
        prioritized: 0,
        'waiting-children': 0,
        completed: 10,
        failed: 2,
        paused: 3,
      },
    };
    const [header, line] = formatCounts([row]).split('\n');
    expect(header!.split(/\s+/)).toEqual([
      'QUEUE',
      'STATE',
      'WAITING',
      'ACTIVE',
      'DELAYED',
      'PRIORITIZED',
      'WAITING-CHILDREN',
      'COMPLETED',
      'FAILED',
      'PAUSED',
    ]);
    expect(line!.split(/\s+/)).toEqual([
      'ingest',
      'paused',
      '3',
      '0',
      '1',
      '0',
      '0',
      '10',
      '2',
      '3',
    ]);
  });
});

describe('progress', () => {
  it('reads a percentage from a number or a { percent } object, clamped', () => {
    expect(progressPercent(42)).toBe(42);
    expect(progressPercent({ percent: 150, rows: 3 })).toBe(100);
    expect(progressPercent({ rows: 3 })).toBeUndefined();
    expect(progressPercent('half')).toBeUndefined();
    expect(progressDetail({ percent: 50, batch: 2, deleted: 10 })).toBe('batch=2 deleted=10');
    expect(progressDetail(50)).toBe('');
  });

  it('renders a bar of fixed width', () => {
    expect(renderBar(0, 10)).toBe('[..........]   0%');
    expect(renderBar(50, 10)).toBe('[#####.....]  50%');
    expect(renderBar(100, 10)).toBe('[##########] 100%');
    expect(renderBar(-5, 4)).toBe('[....]   0%');
  });

  const stream = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, isTTY, write: (t: string) => writes.push(t) };
  };

  it('on a terminal redraws one line in place and ends it once', () => {
    const s = stream(true);
    const p = new ProgressReporter(s, { label: 'job' });
    p.update(10);
    p.update(10);
    p.update(60, '3/5');
    p.done();
    expect(s.writes).toHaveLength(3);
    expect(s.writes[0]).toBe(`\rjob ${renderBar(10)}\u001b[K`);
    expect(s.writes[1]).toContain(' 60% 3/5');
    expect(s.writes[2]).toBe('\n');
    expect(s.writes.join('')).not.toMatch(/\n.*\n/);
  });

  it('elsewhere writes plain lines no more often than the interval, and the last one at the end', () => {
    const s = stream(false);
    let now = 0;
    const p = new ProgressReporter(s, { label: 'job', intervalMs: 1000, now: () => now });
    p.update(0);
    now = 200;
    p.update(30);
    now = 400;
    p.update(60);
    now = 1500;
    p.update(70, 'batch=2');
    now = 1600;
    p.update(100);
    p.done();
    expect(s.writes).toEqual(['job 0%\n', 'job 70% batch=2\n', 'job 100%\n']);
    expect(s.writes.join('')).not.toContain('\r');
    expect(s.writes.join('')).not.toContain('#');
  });
});

describe('stored data on the terminal', () => {
  // What a collector could put in a watermark's error_message or a handler in a failure.
  const OSC52 = '\u001b]52;c;ZWNobyBwd25lZA==\u0007';
  const TITLE = '\u001b]0;owned\u001b\\';
  const CSI = '\u001b[2K\u001b[1A\r';
  const C1_CSI = '\u009b2J';
  const BIDI = 'abc\u202egnp.exe';
  const hostile = `boom${OSC52}${TITLE}${CSI}${C1_CSI}\u007f${BIDI}`;
  const noControls = (text: string) =>
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);

  it('shows every control character as \\xNN in cells, tables and fields, never sends it', () => {
    expect(terminalSafe(OSC52)).toBe('\\x1b]52;c;ZWNobyBwd25lZA==\\x07');
    expect(terminalSafe(C1_CSI)).toBe('\\x9b2J');
    expect(terminalSafe(BIDI)).toBe('abc\\u{202e}gnp.exe');
    noControls(cell(hostile));
    noControls(formatTable(['SOURCE', 'ERROR'], [['otx', hostile]]));
    noControls(formatFields([['error', hostile]]));
    // Cells that already went through cell() are not escaped twice.
    expect(formatFields([['error', cell(hostile)]])).toBe(formatFields([['error', hostile]]));
    expect(cell(hostile)).toContain('boom\\x1b]52;c;');
  });

  it('keeps table columns aligned around an escaped cell', () => {
    const lines = formatTable(
      ['A', 'B'],
      [
        [`x${CSI}`, 'y'],
        ['longer', 'z'],
      ],
    ).split('\n');
    expect(lines[1]!.indexOf('y')).toBe(lines[2]!.indexOf('z'));
  });

  it('keeps progress details from a job inert on a terminal', () => {
    const writes: string[] = [];
    const p = new ProgressReporter(
      { isTTY: true, write: (t: string) => writes.push(t) },
      {
        label: 'run',
      },
    );
    p.update(50, progressDetail({ percent: 50, note: OSC52 }));
    // The reporter's own \r and erase-line stay; the job's OSC 52 does not.
    expect(writes[0]).toMatch(/^\r/);
    expect(writes[0]).not.toContain(OSC52);
    expect(writes[0]).toContain('\\x1b]52;');
  });

  it('--json stays exact JSON: the same value back, with C1 controls escaped too', () => {
    const value = { error_message: hostile, n: 1 };
    const out = terminalSafeJson(JSON.stringify(value, null, 2));
    expect(JSON.parse(out)).toEqual(value);
    noControls(out.replace(/\n/g, ''));
    expect(out).toContain('\\u009b2J');
  });
});
