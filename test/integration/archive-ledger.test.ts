// The archive ledger against the real PostgreSQL, each test in a schema of its own.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../../src/errors/index.js';
import { ArchiveLedger, type NewArchiveLedgerEntry } from '../../src/stores/archive-ledger.js';

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
