// The logger skips the path redactor for strings, numbers and booleans: its lines must be
// exactly pino's, and every secret still redacted.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { REDACT, createLogger } from '../../src/log.js';

/** Lines of a logger, their time removed. */
function collect(make: (write: { write: (l: string) => void }) => pino.Logger) {
  const lines: string[] = [];
  const log = make({ write: (l) => void lines.push(l.replace(/"time":\d+,/, '')) });
  return { log, lines };
}

const VALUES: [Record<string, unknown>, string][] = [
  [{ queue: 'ingest', jobId: '42', type: 'iocs.insert', attempt: 1, ms: 3 }, 'job completed'],
  [{ s: 'quote " backslash \\ newline \n tab \t é 😀 \u0001 \ud800' }, 'odd "strings"'],
  [{ n: 1.5, neg: -0, big: 1e300, nan: Number.NaN, inf: Infinity, ok: true, no: false }, 'numbers'],
  [{ nil: null, und: undefined, arr: [1, 'a', { k: 'v' }] }, 'others'],
  [{ s3: { secret: 'hidden', keep: 'shown' }, db: { password: 'hidden' } }, 'nested secrets'],
  [{ authorization: 'Bearer hidden', headers: { authorization: 'hidden' } }, 'headers'],
  [{ err: new Error('boom "x"') }, 'an error'],
];

describe('log redaction fast path', () => {
  it("writes exactly pino's line for strings, numbers, booleans and objects alike", () => {
    const ours = collect((dest) =>
      createLogger({ LOG_LEVEL: 'info', LOG_PRETTY: false }, { process: 'test' }, dest),
    );
    const theirs = collect((dest) =>
      pino(
        {
          level: 'info',
          base: { pid: process.pid, process: 'test' },
          redact: { paths: REDACT, censor: '[redacted]' },
        },
        dest,
      ),
    );
    for (const [obj, msg] of VALUES) {
      ours.log.info(obj, msg);
      theirs.log.info(obj, msg);
      ours.log.child({ jobId: 'j "1"', attempt: 2 }).warn(obj, msg);
      theirs.log.child({ jobId: 'j "1"', attempt: 2 }).warn(obj, msg);
    }
    // Error stacks differ by the line that logged them; compare without them.
    const strip = (l: string) => l.replace(/"stack":"(?:[^"\\]|\\.)*"/, '"stack":""');
    expect(ours.lines.map(strip)).toEqual(theirs.lines.map(strip));
    const text = ours.lines.join('');
    expect(text).not.toContain('hidden');
    expect(text).toContain('"secret":"[redacted]"');
    expect(text).toContain('"password":"[redacted]"');
    expect(text).toContain('"keep":"shown"');
  });
});
