// The archive ledger against the real PostgreSQL, each test in a schema of its own.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../../src/errors/index.js';
import {
  ArchiveLedger,
  type NewArchiveLedgerEntry,
} from '../../src/stores/postgres/archive-ledger.js';

const schemas: string[] = [];
let pool: pg.Pool;

function open(schema = `t_${randomBytes(6).toString('hex')}`): ArchiveLedger {
  if (!schemas.includes(schema)) schemas.push(schema);
  return new ArchiveLedger(pool, { schema });
}

function entry(
  day: string,
  fields: Omit<Partial<NewArchiveLedgerEntry>, 'archived_at'> = {},
): NewArchiveLedgerEntry {
  const start = new Date(`${day}T00:00:00Z`);
  return {
    day,
    generation: 1,
    high_water: '100',
    window_start: start,
    window_end: new Date(start.getTime() + 86_400_000),
    backend: 'postgres',
    bucket: 'archive',
    rows: 10,
    parts: 1,
    bytes: 123,
    manifest_key: `archive/iocs/v1/day=${day}/manifest.json`,
    manifest_sha256: 'a'.repeat(64),
    manifest_version_id: 'v1',
    lock_mode: 'COMPLIANCE',
    retain_until: new Date('2040-01-01T00:00:00Z'),
    job_id: 'archive.lock.1',
    ...fields,
  };
}

beforeAll(() => {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 12 });
});
afterEach(async () => {
  for (const schema of schemas.splice(0)) {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
});
afterAll(() => pool.end());

describe('archive ledger', () => {
  it('records a day once: the second record of it inserts nothing and keeps the first', async () => {
    const ledger = open();
    await ledger.init();
    expect(await ledger.record(entry('2031-05-06'))).toBe(true);
    expect(await ledger.record(entry('2031-05-06', { rows: 99, job_id: 'other' }))).toBe(false);
    const stored = await ledger.get('2031-05-06');
    expect(stored).toMatchObject({
      ...entry('2031-05-06'),
      archived_at: expect.any(Date) as Date,
    });
    expect(await ledger.get('2031-05-07')).toBeUndefined();
  });

  it('archivedDays returns the days whose window overlaps [from, to)', async () => {
    const ledger = open();
    await ledger.init();
    for (const day of ['2031-05-04', '2031-05-05', '2031-05-07', '2031-05-09']) {
      await ledger.record(entry(day));
    }
    const days = (from: string, to: string) =>
      ledger.archivedDays(new Date(from), new Date(to)).then((s) => [...s]);
    expect(await days('2031-05-05T00:00:00Z', '2031-05-09T00:00:00Z')).toEqual([
      '2031-05-05',
      '2031-05-07',
    ]);
    // A bound inside a day takes that day in.
    expect(await days('2031-05-04T12:00:00Z', '2031-05-09T00:00:01Z')).toEqual([
      '2031-05-04',
      '2031-05-05',
      '2031-05-07',
      '2031-05-09',
    ]);
    expect(await days('2031-05-10T00:00:00Z', '2031-06-01T00:00:00Z')).toEqual([]);
  });

  it('init is safe to run concurrently from several ledgers, and again', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const ledgers = Array.from({ length: 6 }, () => open(schema));
    await Promise.all(ledgers.map((l) => l.init()));
    await ledgers[0]!.record(entry('2031-01-01'));
    await Promise.all(ledgers.map((l) => l.init()));
    expect(await ledgers[5]!.get('2031-01-01')).toBeDefined();
  });

  it('refuses what is not a day or not a complete entry', async () => {
    const ledger = open();
    await ledger.init();
    await expect(ledger.record(entry('2031-02-30'))).rejects.toThrow(RangeError);
    await expect(ledger.get('yesterday')).rejects.toThrow(RangeError);
    await expect(
      ledger.record(entry('2031-05-06', { manifest_sha256: 'nope' })),
    ).rejects.toMatchObject({ code: 'backend_rejected' });
  });

  it('lets one worker at a time hold a day; a second gets a transient busy error until release', async () => {
    const ledger = open();
    await ledger.init();
    const held = await ledger.lockDay('2031-05-06');
    const busy: unknown = await ledger.lockDay('2031-05-06').catch((err: unknown) => err);
    expect(busy).toBeInstanceOf(TransientError);
    expect(busy).toMatchObject({ code: 'archive_day_busy' });
    // Other days are not held up.
    const other = await ledger.lockDay('2031-05-07');
    await other.release();
    await held.release();
    await held.release();
    const again = await ledger.lockDay('2031-05-06');
    await again.release();
  });
});

describe('archive ledger of an older Stowage', () => {
  it('init turns its one row per day into generation 1 with no high-water mark, and takes a generation 2 next to it', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const ledger = open(schema);
    // The table as the previous release created it.
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(`
      CREATE TABLE "${schema}".archive_ledger (
        day date PRIMARY KEY,
        window_start timestamptz NOT NULL,
        window_end timestamptz NOT NULL CHECK (window_end > window_start),
        backend text NOT NULL CHECK (backend IN ('postgres', 'clickhouse')),
        bucket text NOT NULL,
        rows bigint NOT NULL CHECK (rows >= 0),
        parts int NOT NULL CHECK (parts >= 0),
        bytes bigint NOT NULL CHECK (bytes >= 0),
        manifest_key text NOT NULL,
        manifest_sha256 text NOT NULL CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
        manifest_version_id text NULL,
        lock_mode text NOT NULL CHECK (lock_mode IN ('COMPLIANCE', 'GOVERNANCE')),
        retain_until timestamptz NOT NULL,
        archived_at timestamptz NOT NULL DEFAULT now(),
        job_id text NULL
      )`);
    await pool.query(
      `INSERT INTO "${schema}".archive_ledger (day, window_start, window_end, backend, bucket,
         rows, parts, bytes, manifest_key, manifest_sha256, lock_mode, retain_until)
       VALUES ('2031-05-06', '2031-05-06T00:00:00Z', '2031-05-07T00:00:00Z', 'postgres', 'a',
         10, 1, 123, 'k', $1, 'COMPLIANCE', '2040-01-01T00:00:00Z')`,
      ['a'.repeat(64)],
    );

    await ledger.init();
    await ledger.init();
    expect(await ledger.get('2031-05-06')).toMatchObject({ generation: 1, high_water: null });
    expect(await ledger.record(entry('2031-05-06', { generation: 2, high_water: '42' }))).toBe(
      true,
    );
    expect(await ledger.get('2031-05-06')).toMatchObject({ generation: 2, high_water: '42' });
    expect(await ledger.get('2031-05-06', 1)).toMatchObject({ generation: 1, rows: 10 });
    const latest = await ledger.latestGenerations(
      new Date('2031-05-01T00:00:00Z'),
      new Date('2031-06-01T00:00:00Z'),
    );
    expect([...latest]).toEqual([
      ['2031-05-06', { generation: 2, high_water: '42', backend: 'postgres', rows: 10 }],
    ]);
  });
});
