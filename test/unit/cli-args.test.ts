import { describe, expect, it } from 'vitest';
import { parseOperatorArgs, parseRunArgs } from '../../src/cli/args.js';
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

describe('operator command arguments', () => {
  it('enqueue takes a type, a JSON payload and an optional idempotency key', () => {
    expect(
      parseOperatorArgs('enqueue', [
        'iocs.insert',
        '--payload',
        '{"iocs":[]}',
        '--idempotency-key',
        'k1',
      ]),
    ).toEqual({
      command: 'enqueue',
      type: 'iocs.insert',
      payload: { iocs: [] },
      idempotencyKey: 'k1',
      json: false,
    });
  });

  it('enqueue names what is wrong: no payload, payload not JSON, a bad key, no type', () => {
    expect(usageError(() => parseOperatorArgs('enqueue', ['iocs.insert']))).toMatch(/--payload/);
    expect(
      usageError(() => parseOperatorArgs('enqueue', ['iocs.insert', '--payload', '{nope'])),
    ).toMatch(/--payload is not valid JSON/);
    expect(
      usageError(() =>
        parseOperatorArgs('enqueue', ['x', '--payload', '{}', '--idempotency-key', 'a b']),
      ),
    ).toMatch(/--idempotency-key/);
    expect(usageError(() => parseOperatorArgs('enqueue', ['--payload', '{}']))).toMatch(/<type>/);
  });

  it('unknown options and extra arguments are usage errors naming them', () => {
    expect(usageError(() => parseOperatorArgs('status', ['id', '--queu', 'x']))).toMatch(/--queu/);
    expect(usageError(() => parseOperatorArgs('status', ['a', 'b']))).toMatch(
      /unexpected argument "b"/,
    );
    expect(usageError(() => parseOperatorArgs('counts', ['ingest']))).toMatch(/"ingest"/);
  });

  it('queues are checked against the known queue names', () => {
    expect(parseOperatorArgs('pause', ['ingest'])).toEqual({
      command: 'pause',
      queue: 'ingest',
      json: false,
    });
    expect(usageError(() => parseOperatorArgs('resume', ['inbox']))).toMatch(
      /"inbox" is not a queue; one of ingest, cache/,
    );
    expect(usageError(() => parseOperatorArgs('status', ['id', '--queue', 'inbox']))).toMatch(
      /--queue "inbox"/,
    );
  });

  it('retry takes one job id, or --all with a --queue, never both', () => {
    expect(parseOperatorArgs('retry', ['iocs.insert.k1'])).toMatchObject({
      command: 'retry',
      jobId: 'iocs.insert.k1',
      resetAttempts: false,
    });
    expect(
      parseOperatorArgs('retry', ['--all', '--queue', 'ingest', '--reset-attempts', '--json']),
    ).toEqual({ command: 'retry-all', queue: 'ingest', resetAttempts: true, json: true });
    expect(usageError(() => parseOperatorArgs('retry', ['--all']))).toMatch(/--queue/);
    expect(
      usageError(() => parseOperatorArgs('retry', ['id', '--all', '--queue', 'ingest'])),
    ).toMatch(/not both/);
    expect(usageError(() => parseOperatorArgs('retry', []))).toMatch(/<job-id>/);
  });

  it('watermarks get takes an optional source id; set needs a valid source id and ISO timestamp', () => {
    expect(parseOperatorArgs('watermarks', ['get'])).toEqual({
      command: 'watermarks-get',
      sourceId: undefined,
      json: false,
    });
    expect(
      parseOperatorArgs('watermarks', [
        'set',
        'otx',
        '--timestamp',
        '2024-01-01T12:30:00Z',
        '--force',
      ]),
    ).toEqual({
      command: 'watermarks-set',
      sourceId: 'otx',
      timestamp: new Date('2024-01-01T12:30:00Z'),
      force: true,
      json: false,
    });
    expect(usageError(() => parseOperatorArgs('watermarks', ['set', 'otx']))).toMatch(
      /--timestamp/,
    );
    expect(
      usageError(() => parseOperatorArgs('watermarks', ['set', 'otx', '--timestamp', 'yesterday'])),
    ).toMatch(/--timestamp "yesterday" must be an ISO 8601/);
    expect(
      usageError(() =>
        parseOperatorArgs('watermarks', ['set', '../x', '--timestamp', '2024-01-01T00:00:00Z']),
      ),
    ).toMatch(/source_id "..\/x"/);
    expect(usageError(() => parseOperatorArgs('watermarks', ['drop']))).toMatch(
      /unknown subcommand "drop"/,
    );
  });

  it('run reads its job, dry-run, payload object, report path and no-wait', () => {
    expect(parseRunArgs(['retention.cleanup', '--dry-run', '--report', 'r.json'])).toEqual({
      job: 'retention.cleanup',
      dryRun: true,
      payload: {},
      reportPath: 'r.json',
      wait: true,
    });
    expect(usageError(() => parseRunArgs(['x', '--payload', '[1]']))).toMatch(/JSON object/);
    expect(usageError(() => parseRunArgs([]))).toMatch(/<job>/);
  });
});
