import { describe, expect, it } from 'vitest';
import {
  clickHouseIdentifier,
  clickHouseLiteral,
} from '../../src/stores/clickhouse/clickhouse-sql.js';

/**
 * Reads a string literal the way ClickHouse's lexer does: it ends at the first unescaped
 * quote, and a backslash escapes the next character. Returns the decoded text and what
 * follows the closing quote, so a test can prove nothing escapes the literal.
 */
function lexStringLiteral(sql: string): { text: string; rest: string } {
  if (!sql.startsWith("'")) throw new Error(`not a string literal: ${sql}`);
  const simple: Record<string, string> = {
    n: '\n',
    r: '\r',
    t: '\t',
    '0': '\0',
    '\\': '\\',
    "'": "'",
  };
  let text = '';
  for (let i = 1; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === "'") return { text, rest: sql.slice(i + 1) };
    if (ch !== '\\') {
      text += ch;
      continue;
    }
    const next = sql[++i]!;
    if (next === 'x') {
      text += String.fromCharCode(parseInt(sql.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      const decoded = simple[next];
      if (decoded === undefined) throw new Error(`unexpected escape \\${next}`);
      text += decoded;
    }
  }
  throw new Error(`unterminated literal: ${sql}`);
}

describe('clickHouseLiteral for strings', () => {
  const nasty = [
    '',
    'plain',
    "a'b",
    "''",
    "\\' OR 1=1 --",
    "'; DROP TABLE iocs; --",
    'back\\slash',
    'trailing backslash\\',
    "\\\\'",
    'nul\u0000byte',
    'line\nbreak\r\ttab',
    'bell\u0007 escape\u001b del\u007f',
    'ünïcödé 日本語 😀',
    '\u2028\u2029',
    '"double" `back`',
  ];

  it.each(nasty)('keeps %j inside one literal and decodes back to it', (value) => {
    const sql = clickHouseLiteral(value);
    const { text, rest } = lexStringLiteral(sql);
    expect(text).toBe(value);
    expect(rest).toBe('');
  });

  it('escapes quotes and backslashes with a backslash', () => {
    expect(clickHouseLiteral("a'b")).toBe("'a\\'b'");
    expect(clickHouseLiteral('a\\b')).toBe("'a\\\\b'");
    expect(clickHouseLiteral("\\' OR 1=1 --")).toBe("'\\\\\\' OR 1=1 --'");
  });

  it('leaves no control character raw', () => {
    const all = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f';
    const sql = clickHouseLiteral(all);
    // eslint-disable-next-line no-control-regex
    expect(sql).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(clickHouseLiteral('\u0000')).toBe("'\\0'");
    expect(clickHouseLiteral('\n')).toBe("'\\n'");
    expect(clickHouseLiteral('\u0001')).toBe("'\\x01'");
    expect(clickHouseLiteral('\u007f')).toBe("'\\x7f'");
    expect(lexStringLiteral(sql).text).toBe(all);
  });

  it('passes non-ASCII text through unchanged', () => {
    expect(clickHouseLiteral('日本 😀 é')).toBe("'日本 😀 é'");
  });
});

describe('clickHouseLiteral for numbers', () => {
  it('writes finite numbers so the server reads the same double', () => {
    expect(clickHouseLiteral(0)).toBe('0');
    expect(clickHouseLiteral(-0)).toBe('0');
    expect(clickHouseLiteral(42)).toBe('42');
    expect(clickHouseLiteral(0.7)).toBe('0.7');
    expect(clickHouseLiteral(1e-7)).toBe('1e-7');
    expect(clickHouseLiteral(1700000000123)).toBe('1700000000123');
    expect(Number(clickHouseLiteral(0.1 + 0.2))).toBe(0.1 + 0.2);
  });

  it('parenthesizes negative numbers, so `1-${n}` cannot become a -- comment', () => {
    expect(clickHouseLiteral(-5)).toBe('(-5)');
    expect(`1-${clickHouseLiteral(-5)}`).not.toContain('--');
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('refuses %s', (n) => {
    expect(() => clickHouseLiteral(n)).toThrow(RangeError);
  });

  it('refuses subnormal numbers, which the 18.16 lexer cannot read', () => {
    expect(() => clickHouseLiteral(5e-324)).toThrow(RangeError);
    expect(clickHouseLiteral(2.2250738585072014e-308)).toBe('2.2250738585072014e-308');
  });
});

describe('clickHouseLiteral for dates and arrays', () => {
  it('writes a Date as toDateTime(unix seconds), the same instant in any server time zone', () => {
    expect(clickHouseLiteral(new Date('2024-01-02T03:04:05.678Z'))).toBe('toDateTime(1704164645)');
    expect(clickHouseLiteral(new Date(0))).toBe('toDateTime(0)');
  });

  it('refuses invalid dates and dates outside the DateTime range', () => {
    expect(() => clickHouseLiteral(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => clickHouseLiteral(new Date('1969-12-31T23:59:59Z'))).toThrow(RangeError);
    expect(() => clickHouseLiteral(new Date('2107-01-01T00:00:00Z'))).toThrow(RangeError);
  });

  it('writes arrays of strings with every element escaped', () => {
    expect(clickHouseLiteral([])).toBe('[]');
    expect(clickHouseLiteral(['a', "b'c", 'd\\'])).toBe("['a', 'b\\'c', 'd\\\\']");
  });

  it('refuses arrays of anything but strings', () => {
    expect(() => clickHouseLiteral([1, 2] as unknown as string[])).toThrow(TypeError);
  });

  it('refuses other types at run time', () => {
    expect(() => clickHouseLiteral({} as unknown as string)).toThrow(TypeError);
    expect(() => clickHouseLiteral(null as unknown as string)).toThrow(TypeError);
  });
});

describe('clickHouseIdentifier', () => {
  it.each(['stowage', 'ioc_sightings', '_x1', 'T_abc123'])('accepts %s', (name) => {
    expect(clickHouseIdentifier(name)).toBe(name);
  });

  it.each(['', '1abc', 'a-b', 'a.b', 'a b', 'x; DROP TABLE t', '`x`', 'é', 'a\u0000'])(
    'refuses %j',
    (name) => {
      expect(() => clickHouseIdentifier(name)).toThrow(TypeError);
    },
  );
});
