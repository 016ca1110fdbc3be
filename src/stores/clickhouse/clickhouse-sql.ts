// ClickHouse 18.16 (Debian's server) has no server-side query parameters, so every value
// that goes into a ClickHouse query text goes through clickHouseLiteral, and every name
// through clickHouseIdentifier. Nothing else in Stowage builds ClickHouse SQL from values.

/** A value clickHouseLiteral can inline into ClickHouse SQL. */
export type ClickHouseValue = string | number | Date | readonly string[];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Smallest positive normal double: 18.16's lexer refuses subnormal literals (4.9e-324).
const MIN_NORMAL = 2.2250738585072014e-308;
const MAX_DATETIME_SECONDS = 0xffff_ffff;

const NAMED_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** Returns a plain identifier (database, table, column) unchanged; throws when it is not one. */
export function clickHouseIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new TypeError(`not a plain ClickHouse identifier: ${JSON.stringify(name)}`);
  }
  return name;
}

/** Formats a value as a ClickHouse SQL literal: a string can never end before its closing quote. */
export function clickHouseLiteral(value: ClickHouseValue): string {
  if (typeof value === 'string') return stringLiteral(value);
  if (typeof value === 'number') return numberLiteral(value);
  if (value instanceof Date) return dateTimeLiteral(value);
  if (Array.isArray(value)) {
    return `[${value
      .map((item) => {
        if (typeof item !== 'string') throw new TypeError('only arrays of strings are supported');
        return stringLiteral(item);
      })
      .join(', ')}]`;
  }
  throw new TypeError(`cannot format ${typeof value} as a ClickHouse literal`);
}

function stringLiteral(value: string): string {
  // Only ' ends a literal and only \ escapes; control characters are escaped too so that
  // the query text stays printable in logs. Multi-byte UTF-8 never contains ASCII bytes,
  // so non-ASCII text passes through unchanged.
  // eslint-disable-next-line no-control-regex
  const escaped = value.replace(/[\\'\u0000-\u001f\u007f]/g, (ch) => {
    return NAMED_ESCAPES[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `'${escaped}'`;
}

function numberLiteral(value: number): string {
  if (!Number.isFinite(value)) {
    throw new RangeError(`not a finite number: ${String(value)}`);
  }
  if (value !== 0 && Math.abs(value) < MIN_NORMAL) {
    throw new RangeError(`subnormal numbers are not valid ClickHouse literals: ${String(value)}`);
  }
  // Parenthesized when negative: `1-${n}` must never become `1--5`, which starts a comment.
  return value < 0 ? `(${String(value)})` : String(value);
}

function dateTimeLiteral(value: Date): string {
  const ms = value.getTime();
  if (Number.isNaN(ms)) throw new RangeError('invalid Date');
  // Unix seconds, not a 'YYYY-MM-DD hh:mm:ss' string: a string is read in the server's
  // time zone, a number is the same instant everywhere.
  const seconds = Math.floor(ms / 1000);
  if (seconds < 0 || seconds > MAX_DATETIME_SECONDS) {
    throw new RangeError(`outside the DateTime range (1970..2106): ${value.toISOString()}`);
  }
  return `toDateTime(${seconds})`;
}

/**
 * Splits inlined SQL fragments into runs whose total length stays under a budget (a longer
 * one runs alone), so a long key list becomes several queries under max_query_size.
 */
export function chunkByLength(items: readonly string[], budget: number): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let length = 0;
  for (const item of items) {
    if (current.length > 0 && length + item.length > budget) {
      chunks.push(current);
      current = [];
      length = 0;
    }
    current.push(item);
    length += item.length + 2;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
