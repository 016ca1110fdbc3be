import { CHECKPOINT_KEY } from './checkpoint.js';

/** What a redacted value reads as. */
export const REDACTED = '[redacted]';

// Keys whose values are secrets whatever they hold (an S3 signature, a token, a password).
const SECRET_KEY = /token|secret|passw|signature|credential|api[-_]?key|authorization|cookie/i;
// A spool file bound to a job (`<tag>.<32 hex>`) or a partial upload (`.<32 hex>.part`).
const SPOOL_NAME = /[A-Za-z0-9_-]{1,100}\.[0-9a-f]{32}(?![0-9a-f])|\.[0-9a-f]{32}\.part/g;
const URL_IN_TEXT = /\bhttps?:\/\/[^\s"'<>`]+/gi;

/**
 * A URL as readers may see it: scheme, host and path. The query string and fragment may
 * carry a presigned signature or a token, user info a password.
 */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const u = new URL(url);
  const hidden = u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '';
  return `${u.protocol}//${u.host}${u.pathname}${hidden ? `?${REDACTED}` : ''}`;
}

/** Free text (a failure reason, a log line) without URL queries or spool file names. */
export function redactText(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url)).replace(SPOOL_NAME, REDACTED);
}

/**
 * Job data or a return value as readers (read keys, the dashboard) may see it: no spool file
 * name, URLs without query or fragment, nothing under a secret-shaped key, no checkpoint.
 */
export function redactJobData(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map(redactJobData);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(record)) {
    if (key === CHECKPOINT_KEY) continue;
    if (SECRET_KEY.test(key) && v !== null && v !== undefined) out[key] = REDACTED;
    // A spool source's file is how a job is bound to its bytes: never shown.
    else if (key === 'file' && record.type === 'spool') out[key] = REDACTED;
    else out[key] = redactJobData(v);
  }
  return out;
}
