/**
 * One range of a `Range: bytes=…` header (RFC 9110 §14.1.2): from `start` to `end`
 * inclusive (to the last byte when `end` is absent), or the last `suffix` bytes.
 */
export type ByteRange = { start: number; end?: number } | { suffix: number };

const SINGLE_RANGE = /^bytes=(?:(\d{1,15})-(\d{0,15})|-(\d{1,15}))$/i;

/**
 * The one byte range a Range header asks for, or undefined when the whole object is to be
 * served: no header, another unit, several ranges, or a malformed one (RFC 9110 §14.2 lets a
 * server ignore a Range it does not support; a 200 with every byte is always correct).
 */
export function parseByteRange(header: string | undefined): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = SINGLE_RANGE.exec(header.replace(/\s+/g, ''));
  if (!m) return undefined;
  if (m[3] !== undefined) {
    const suffix = Number(m[3]);
    // `bytes=-0` is a valid but unsatisfiable range: asked as such, S3 answers it.
    return { suffix };
  }
  const start = Number(m[1]);
  if (m[2] === undefined || m[2] === '') return { start };
  const end = Number(m[2]);
  // last < first is invalid syntax (§14.1.2): ignored like any malformed range.
  if (end < start) return undefined;
  return { start, end };
}

/** The range as a `Range` header value (what S3's GetObject takes). */
export function byteRangeHeader(range: ByteRange): string {
  if ('suffix' in range) return `bytes=-${range.suffix}`;
  return `bytes=${range.start}-${range.end ?? ''}`;
}
