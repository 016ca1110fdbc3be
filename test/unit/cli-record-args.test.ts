// The record commands' arguments: kebab-case flags become the api's fields, checked by the
// use cases' own schemas, and every error names the flag or positional the operator typed.
import { describe, expect, it } from 'vitest';
import { ACTIVITY_FLAGS } from '../../src/cli/activity-args.js';
import { ARTIFACT_FLAGS } from '../../src/cli/artifact-args.js';
import { DETECTION_FLAGS } from '../../src/cli/detection-args.js';
import { IOC_FLAGS } from '../../src/cli/ioc-args.js';
import { parseRecordArgs } from '../../src/cli/record-commands.js';
import { USAGE } from '../../src/cli/usage.js';
import { UsageError } from '../../src/cli/usage-error.js';

const usageError = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
};

describe('record command arguments', () => {
  it('iocs search turns its flags into the query GET /v1/iocs validates', () => {
    const parsed = parseRecordArgs('iocs', [
      'search',
      '--type',
      'ipv4',
      '--min-confidence',
      '0.7',
      '--cidr',
      '10.0.0.0/8',
      '--seen-since',
      '2024-01-01T00:00:00Z',
      '--count',
    ]);
    expect(parsed).toMatchObject({
      command: 'iocs-search',
      query: {
        type: 'ipv4',
        min_confidence: 0.7,
        seen_since: new Date('2024-01-01T00:00:00Z'),
        count: true,
        limit: 100,
      },
    });
  });

  it('a bad value names its flag, every failing one at once', () => {
    const message = usageError(() =>
      parseRecordArgs('iocs', [
        'search',
        '--min-confidence',
        '0.9',
        '--max-confidence',
        '0.2',
        '--limit',
        '0',
      ]),
    );
    expect(message).toMatch(/^iocs search: /);
    expect(message).toContain('--max-confidence: below min_confidence');
    expect(message).toContain('--limit');
    expect(usageError(() => parseRecordArgs('iocs', ['search', '--colour', 'red']))).toMatch(
      /--colour/,
    );
    expect(usageError(() => parseRecordArgs('iocs', ['get', 'ipv4', 'x']))).toMatch(/<value>/);
    expect(usageError(() => parseRecordArgs('iocs', ['get', 'ipv4']))).toMatch(/missing <value>/);
    expect(usageError(() => parseRecordArgs('iocs', ['grep']))).toMatch(/not "grep"/);
  });

  it('iocs get normalizes the indicator as the api does; --no-cache skips the cache', () => {
    expect(parseRecordArgs('iocs', ['get', 'domain', 'Evil.Example.COM', '--no-cache'])).toEqual({
      command: 'iocs-get',
      type: 'domain',
      value: 'evil.example.com',
      useCache: false,
    });
  });

  it('activities take the window as --since and --until (start_time and end_time)', () => {
    expect(
      parseRecordArgs('activities', [
        'search',
        '--since',
        '2024-01-01T00:00:00Z',
        '--until',
        '2024-01-02T00:00:00Z',
        '--event-type',
        'dns_query',
      ]),
    ).toMatchObject({
      command: 'activities-search',
      query: {
        start_time: new Date('2024-01-01T00:00:00Z'),
        end_time: new Date('2024-01-02T00:00:00Z'),
        event_type: 'dns_query',
      },
    });
    expect(
      usageError(() => parseRecordArgs('activities', ['stats', '--since', 'yesterday'])),
    ).toMatch(/--since/);
  });

  it('detections status takes the id and status as positionals and the body fields as flags', () => {
    expect(
      parseRecordArgs('detections', [
        'status',
        'det_1',
        'False Positive',
        '--case-id',
        'C-1',
        '--by',
        'alice',
      ]),
    ).toEqual({
      command: 'detections-status',
      detectionId: 'det_1',
      body: { status: 'False Positive', case_id: 'C-1' },
      by: 'alice',
    });
    expect(usageError(() => parseRecordArgs('detections', ['status', 'det_1', 'Done']))).toMatch(
      /<status>/,
    );
    expect(usageError(() => parseRecordArgs('detections', ['list', '--ioc', '']))).toMatch(/--ioc/);
  });

  it('artifacts check the kind, the key layout and the range before any connection', () => {
    expect(
      parseRecordArgs('artifacts', [
        'get',
        'sample',
        'samples/r1/a.log',
        '-o',
        'a.log',
        '--range=-10',
      ]),
    ).toEqual({
      command: 'artifacts-get',
      kind: 'sample',
      key: 'samples/r1/a.log',
      output: 'a.log',
      range: 'bytes=-10',
    });
    expect(usageError(() => parseRecordArgs('artifacts', ['head', 'blob', 'x']))).toMatch(/<kind>/);
    expect(
      usageError(() => parseRecordArgs('artifacts', ['head', 'sample', 'debug/r1/a.zip'])),
    ).toMatch(/<key>: not a sample key/);
    expect(
      usageError(() =>
        parseRecordArgs('artifacts', ['get', 'sample', 'samples/r1/a', '--range', 'x']),
      ),
    ).toMatch(/--range/);
  });

  it('the usage text lists every record subcommand and every flag it takes', () => {
    const families = {
      iocs: IOC_FLAGS,
      activities: ACTIVITY_FLAGS,
      detections: DETECTION_FLAGS,
      artifacts: ARTIFACT_FLAGS,
    };
    for (const [family, subs] of Object.entries(families)) {
      for (const [sub, spec] of Object.entries(subs)) {
        expect(USAGE).toContain(`${family} ${sub}`);
        const flags = Object.keys({
          ...('strings' in spec ? spec.strings : {}),
          ...('booleans' in spec ? spec.booleans : {}),
        });
        // The exports name the search filters as a group.
        if (sub === 'export-stix' || sub === 'export-misp') continue;
        for (const flag of flags) expect(USAGE, `${family} ${sub}`).toContain(`--${flag}`);
      }
    }
  });
});
