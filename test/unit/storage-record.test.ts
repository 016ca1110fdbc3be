import { describe, expect, it } from 'vitest';
import {
  canonicalRecord,
  canonicalRecordBatch,
  recordArchiveKey,
  storageRecordSchema,
} from '../../src/domain/storage-record.js';

const base = {
  id: 'unique-id',
  source_data: 'detector output',
  mapped_data: 'canonical taxonomy mapping',
  model_version: 'llama-2-7b-v1.0',
  timestamp: '2026-01-02T03:04:05Z',
  metadata: { detector: 'example', nested: { b: 1, a: [2, { d: 1, c: 0 }] } },
};

describe('storage records (seed 002)', () => {
  it('are the same content whatever the order of metadata keys', () => {
    const a = canonicalRecord(storageRecordSchema.parse(base));
    const b = canonicalRecord(
      storageRecordSchema.parse({
        ...base,
        metadata: { nested: { a: [2, { c: 0, d: 1 }], b: 1 }, detector: 'example' },
      }),
    );
    expect(b.digest).toBe(a.digest);
    expect(a.line).toBe(
      '{"id":"unique-id","source_data":"detector output","mapped_data":"canonical taxonomy mapping","model_version":"llama-2-7b-v1.0","timestamp":"2026-01-02T03:04:05.000Z","metadata":{"detector":"example","nested":{"a":[2,{"c":0,"d":1}],"b":1}}}',
    );
    const other = canonicalRecord(storageRecordSchema.parse({ ...base, mapped_data: 'x' }));
    expect(other.digest).not.toBe(a.digest);
  });

  it('default metadata to {} and keep the first of duplicate ids, ordered by id', () => {
    const bare: Partial<typeof base> = { ...base };
    delete bare.metadata;
    expect(storageRecordSchema.parse(bare).metadata).toEqual({});
    const batch = canonicalRecordBatch(
      [
        { ...base, id: 'b' },
        { ...base, id: 'a', mapped_data: 'first' },
        { ...base, id: 'a', mapped_data: 'second' },
      ].map((r) => storageRecordSchema.parse(r)),
    );
    expect(batch.map((r) => [r.id, r.mapped_data])).toEqual([
      ['a', 'first'],
      ['b', 'canonical taxonomy mapping'],
    ]);
  });

  it('refuse unsafe ids, oversize data and metadata, NUL, unknown keys, naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, id: '../etc' }, 'id'],
      [{ ...base, id: 'x'.repeat(129) }, 'id'],
      [{ ...base, id: '' }, 'id'],
      [{ ...base, source_data: 'x'.repeat(32_769) }, 'source_data'],
      [{ ...base, mapped_data: 'a\u0000b' }, 'mapped_data'],
      [{ ...base, model_version: ' ' }, 'model_version'],
      [{ ...base, timestamp: '1999-12-31T23:59:59Z' }, 'timestamp'],
      [{ ...base, metadata: { big: 'x'.repeat(8_200) } }, 'metadata'],
      [{ ...base, metadata: ['not', 'an', 'object'] }, 'metadata'],
      [{ ...base, colour: 'red' }, ''],
    ];
    for (const [input, field] of cases) {
      const parsed = storageRecordSchema.safeParse(input);
      expect(parsed.success, JSON.stringify(input).slice(0, 80)).toBe(false);
      if (!parsed.success && field !== '') {
        expect(parsed.error.issues.map((i) => i.path.join('.'))).toContain(field);
      }
    }
    expect(storageRecordSchema.safeParse({ ...base, id: 'a.b_c:d-1' }).success).toBe(true);
  });

  it('archive under a content-addressed key on the day of the earliest record', () => {
    const sha = 'ab'.repeat(32);
    expect(recordArchiveKey('2026-01-02T23:59:59.999Z', sha)).toBe(
      `records/2026/01/02/${sha}.ndjson.gz`,
    );
    expect(() => recordArchiveKey('2026-01-02T00:00:00Z', 'nope')).toThrow();
  });
});
