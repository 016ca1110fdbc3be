// Stored data (a watermark's error_message, a job's failure reason or progress) is written
// by collectors and handlers, not by the operator; printed raw, an escape sequence in it
// could rewrite the terminal's lines, set its title or write its clipboard (OSC 52).

/**
 * C0 controls, DEL, C1 controls (U+0080–U+009F: 8-bit CSI, OSC, …), and the Unicode
 * line/paragraph separators and bidirectional overrides that reorder what a line shows.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `\xNN` or `\u{NNNN}`: the character made visible, never executed. */
function visible(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u{${code.toString(16).padStart(4, '0')}}`;
}

/**
 * Text safe to print on a terminal: every control character (ESC of an escape sequence
 * included) shown as `\xNN`, so the sequence is readable and inert. Idempotent.
 */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, visible);
}

/**
 * JSON text with DEL, C1 controls and the separators above written as `\uNNNN` escapes as
 * well (JSON.stringify escapes C0 alone): the same value for a parser, inert on a terminal.
 */
export function terminalSafeJson(json: string): string {
  return json.replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (ch) => `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}
