import { describe, expect, it } from 'vitest';
import { byteRangeHeader, parseByteRange } from '../../src/domain/byte-range.js';

describe('parseByteRange', () => {
  it('reads one range of each form', () => {
    expect(parseByteRange('bytes=10-19')).toEqual({ start: 10, end: 19 });
    expect(parseByteRange('bytes=10-')).toEqual({ start: 10 });
    expect(parseByteRange('bytes=-5')).toEqual({ suffix: 5 });
    expect(parseByteRange('Bytes = 0 - 0')).toEqual({ start: 0, end: 0 });
  });

  it('ignores what it does not serve: no header, other units, several ranges, nonsense, last < first', () => {
    for (const header of [
      undefined,
      '',
      'items=0-1',
      'bytes=0-1,5-6',
      'bytes=abc',
      'bytes=-',
      'bytes=9-2',
      'bytes=1e3-',
      `bytes=${'9'.repeat(16)}-`,
    ]) {
      expect(parseByteRange(header), String(header)).toBeUndefined();
    }
  });

  it('writes the range back as S3 takes it', () => {
    expect(byteRangeHeader({ start: 3, end: 7 })).toBe('bytes=3-7');
    expect(byteRangeHeader({ start: 3 })).toBe('bytes=3-');
    expect(byteRangeHeader({ suffix: 4 })).toBe('bytes=-4');
  });
});
