import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_CODE_NAMES, isErrorCode, statusOf } from '../../src/errors/index.js';

describe('error-code catalogue', () => {
  it('gives every code an HTTP error status, a kind and a description', () => {
    expect(ERROR_CODE_NAMES.length).toBeGreaterThan(30);
    for (const code of ERROR_CODE_NAMES) {
      const entry = ERROR_CODES[code];
      expect(['permanent', 'transient'], code).toContain(entry.kind);
      expect(
        Number.isInteger(entry.status) && entry.status >= 400 && entry.status <= 599,
        code,
      ).toBe(true);
      expect(entry.description.length, code).toBeGreaterThan(0);
      expect(statusOf(code), code).toBe(entry.status);
      expect(code, 'codes are snake_case').toMatch(/^[a-z][a-z0-9_]*$/);
    }
  });

  it('keeps kind and status consistent: a retryable code is a 5xx, 408 or 429, a permanent one another 4xx or 500', () => {
    const wrong = ERROR_CODE_NAMES.filter((code) => {
      const { kind, status } = ERROR_CODES[code];
      return kind === 'transient'
        ? !(status >= 500 || status === 408 || status === 429)
        : !((status >= 400 && status < 500 && status !== 408 && status !== 429) || status === 500);
    });
    expect(wrong).toEqual([]);
  });

  it('answers whether a string is a catalogued code', () => {
    expect(isErrorCode('not_found')).toBe(true);
    expect(isErrorCode('no_such_code')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });
});
