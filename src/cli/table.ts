import { terminalSafe } from './terminal-text.js';

/**
 * Formats rows under a header as left-aligned columns separated by two spaces; control
 * characters in any cell are shown, not sent to the terminal.
 */
export function formatTable(
  header: readonly string[],
  unsafeRows: readonly (readonly string[])[],
): string {
  const rows = unsafeRows.map((row) => row.map(terminalSafe));
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    widths
      .map((w, i) => (i === widths.length - 1 ? (cells[i] ?? '') : (cells[i] ?? '').padEnd(w)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Formats one record as `name: value` lines with the values aligned (controls shown, not sent). */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...fields.map(([name]) => name.length + 1));
  return fields
    .map(([name, value]) => `${`${name}:`.padEnd(width)}  ${terminalSafe(value)}`)
    .join('\n');
}

/** A value for a table cell: `-` for nothing, JSON for objects, one line, controls shown. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (value instanceof Date) return value.toISOString();
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
        ? String(value)
        : (JSON.stringify(value) ?? '-');
  return terminalSafe(text.replace(/\s*\n\s*/g, ' '));
}
