import { describe, expect, it } from 'vitest';
import {
  MAX_TAGS,
  MAX_TAG_LENGTH,
  META_KEY,
  jobMeta,
  metaOf,
  withMeta,
} from '../../jobs/job-meta.js';

describe('job metadata', () => {
  it('records who asked, for which tenant, and bounded, deduplicated tags', () => {
    const tags = [
      'source:otx',
      'source:otx',
      '',
      'x'.repeat(500),
      ...Array.from({ length: 40 }, (_, i) => `t:${i}`),
    ];
    const meta = jobMeta({ enqueuedBy: 'bot', tenant: 'acme' }, tags);
    expect(meta?.enqueued_by).toBe('bot');
    expect(meta?.tenant).toBe('acme');
    expect(meta?.tags).toHaveLength(MAX_TAGS);
    expect(meta?.tags?.slice(0, 2)).toEqual(['source:otx', 'x'.repeat(MAX_TAG_LENGTH)]);
  });

  it('says nothing when there is nothing to say, and leaves the data untouched then', () => {
    expect(jobMeta(undefined, [])).toBeUndefined();
    const data = { n: 1 };
    expect(withMeta(data, undefined)).toBe(data);
    expect(withMeta(data, { enqueued_by: 'cli:ops' })).toEqual({
      n: 1,
      [META_KEY]: { enqueued_by: 'cli:ops' },
    });
  });

  it('reads metadata defensively: junk in Redis is ignored field by field', () => {
    expect(metaOf({ n: 1 })).toEqual({});
    expect(metaOf(null)).toEqual({});
    expect(metaOf({ [META_KEY]: 'nope' })).toEqual({});
    expect(metaOf({ [META_KEY]: { enqueued_by: 7, tenant: 'acme', tags: ['a', 3] } })).toEqual({
      tenant: 'acme',
      tags: ['a'],
    });
  });
});
