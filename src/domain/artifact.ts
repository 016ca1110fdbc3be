import { z } from 'zod';

/** Artifact kinds of seed 003, each with its own bucket and key layout. */
export const ARTIFACT_KINDS = ['sample', 'ta-bundle', 'debug-bundle'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** Longest filename accepted, in UTF-8 bytes (what most file systems and S3 UIs allow). */
export const MAX_FILENAME_BYTES = 255;

/** Request, revision and validation-run ids: seed 003 uses UUIDs; any plain token is allowed. */
export const artifactIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'letters, digits, _ - (1..128), no dots or slashes');

/**
 * Why a filename is refused, or undefined when it is safe as the last segment of a key:
 * no path separators or traversal, no control characters, at most 255 UTF-8 bytes, and
 * nothing that makes it read as another name: no bidirectional overrides, embeddings or
 * isolates (`invoice\u202Efdp.exe` shows as `invoiceexe.pdf`), no zero-width characters, no
 * other invisible format character (Unicode category Cf).
 */
export function filenameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name, 'utf8') > MAX_FILENAME_BYTES)
    return `must be at most ${MAX_FILENAME_BYTES} bytes`;
  if (/\p{Cc}/u.test(name)) return 'must not contain control characters';
  if (/[\u202A-\u202E\u2066-\u2069]/u.test(name))
    return 'must not contain bidirectional overrides, embeddings or isolates (U+202A–U+202E, U+2066–U+2069)';
  if (/[\u200B-\u200F\u2060\uFEFF]/u.test(name))
    return 'must not contain zero-width characters (U+200B–U+200F, U+2060, U+FEFF)';
  if (/\p{Cf}/u.test(name)) return 'must not contain invisible format characters (Unicode Cf)';
  // A lone surrogate has no UTF-8 form: the key would hold U+FFFD instead of this name.
  if (/\p{Cs}/u.test(name)) return 'must not contain unpaired surrogates';
  if (name.includes('/') || name.includes('\\')) return 'must not contain / or \\ (no paths)';
  if (name === '.' || name === '..' || name.includes('..')) return 'must not contain ..';
  if (name.trim() !== name) return 'must not start or end with spaces';
  return undefined;
}

/** A filename that is safe as the last segment of a storage key. */
export const filenameSchema = z.string().superRefine((name, ctx) => {
  const problem = filenameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Largest TA bundle version. */
export const MAX_ARTIFACT_VERSION = 1_000_000;

/**
 * A TA bundle version: a JSON integer, or its canonical decimal text (form fields and
 * headers are text) — 1 to 1,000,000, no sign, no leading zero, no spaces, no exponent or
 * hex (`1e3`, `0x10`, ` 5 `, `05` are refused: each would be a second spelling of a key's
 * `v{version}`, which Number() would otherwise accept).
 */
export const artifactVersionSchema = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    if (/^[1-9][0-9]{0,6}$/.test(v)) return Number(v);
    ctx.addIssue({
      code: 'custom',
      message: 'a whole number in canonical decimal (1, 2, 10…): no 05, 1e3, 0x10 or spaces',
    });
    return z.NEVER;
  })
  .pipe(z.number().int().min(1).max(MAX_ARTIFACT_VERSION));

/** Where an artifact goes: seed 003's request ids per kind. */
export const artifactTargetSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('sample'),
    request_id: artifactIdSchema,
    filename: filenameSchema,
  }),
  z.strictObject({
    kind: z.literal('ta-bundle'),
    request_id: artifactIdSchema,
    revision_id: artifactIdSchema,
    version: artifactVersionSchema,
  }),
  z.strictObject({
    kind: z.literal('debug-bundle'),
    validation_run_id: artifactIdSchema,
    filename: filenameSchema,
  }),
]);
export type ArtifactTarget = z.output<typeof artifactTargetSchema>;

/** Seed 003's key layout: samples/{request_id}/{filename}, tas/{request_id}/v{version}/{revision_id}.tgz, debug/{validation_run_id}/{filename}. */
export function artifactKey(target: ArtifactTarget): string {
  switch (target.kind) {
    case 'sample':
      return `samples/${target.request_id}/${target.filename}`;
    case 'ta-bundle':
      return `tas/${target.request_id}/v${target.version}/${target.revision_id}.tgz`;
    case 'debug-bundle':
      return `debug/${target.validation_run_id}/${target.filename}`;
  }
}

/** Each kind's key layout, as artifactKey builds it (for messages naming the expected form). */
export const KEY_LAYOUTS: Record<ArtifactKind, string> = {
  sample: 'samples/{request_id}/{filename}',
  'ta-bundle': 'tas/{request_id}/v{version}/{revision_id}.tgz',
  'debug-bundle': 'debug/{validation_run_id}/{filename}',
};

/**
 * The target a key stands for (the inverse of artifactKey), or undefined unless the key is
 * exactly what artifactKey makes for a valid target of that kind: re-deriving it rules out
 * `..`, extra segments and other prefixes whatever the encoding tricks.
 */
export function targetOfKey(kind: ArtifactKind, key: string): ArtifactTarget | undefined {
  const parts = key.split('/');
  let candidate: unknown;
  if (kind === 'sample' && parts.length === 3 && parts[0] === 'samples') {
    candidate = { kind, request_id: parts[1], filename: parts[2] };
  } else if (kind === 'debug-bundle' && parts.length === 3 && parts[0] === 'debug') {
    candidate = { kind, validation_run_id: parts[1], filename: parts[2] };
  } else if (kind === 'ta-bundle' && parts.length === 4 && parts[0] === 'tas') {
    const version = /^v([1-9][0-9]*)$/.exec(parts[2] ?? '')?.[1];
    const revision = /^(.+)\.tgz$/.exec(parts[3] ?? '')?.[1];
    candidate = { kind, request_id: parts[1], revision_id: revision, version: Number(version) };
  }
  if (candidate === undefined) return undefined;
  const parsed = artifactTargetSchema.safeParse(candidate);
  if (!parsed.success || artifactKey(parsed.data) !== key) return undefined;
  return parsed.data;
}

/** The key prefix holding every artifact of one request (or validation run). */
export function artifactPrefix(kind: ArtifactKind, id: string): string {
  return kind === 'sample'
    ? `samples/${id}/`
    : kind === 'ta-bundle'
      ? `tas/${id}/`
      : `debug/${id}/`;
}

export const sha256Schema = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'a SHA-256 digest: 64 hex digits')
  .transform((s) => s.toLowerCase());

function withoutCredentials(url: string): boolean {
  const u = new URL(url);
  return u.username === '' && u.password === '';
}

/** A spool file bound to a job: `<job tag>.<32 hex digits>`. */
export const SPOOL_FILE_NAME = /^[A-Za-z0-9_-]{1,100}\.[0-9a-f]{32}$/;

/** Where the bytes come from: a file in the spool (streamed there by the api) or a URL. */
export const artifactSourceSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('spool'),
    /**
     * File name inside SPOOL_DIR: `<job tag>.<128 random bits in hex>`, bound to its job by
     * the artifact intake (never a path, never shown to readers).
     */
    file: z.string().regex(SPOOL_FILE_NAME, 'a spool file name'),
    size: z.number().int().min(0),
    sha256: sha256Schema,
    /**
     * The multipart upload the api filled while the request arrived (set by the intake
     * only): the job completes it when S3 holds exactly these parts, and uploads the spool
     * file (continuing it) otherwise.
     */
    parts: z
      .strictObject({
        upload_id: z.string().min(1).max(1024),
        part_size: z.number().int().positive(),
        /** SHA-256 over the part numbers and ETags S3 answered (partsDigest). */
        parts_sha256: sha256Schema,
      })
      .optional(),
  }),
  z.strictObject({
    type: z.literal('url'),
    url: z
      .string()
      .max(4096)
      .refine((u) => /^https?:\/\//i.test(u) && URL.canParse(u), 'an http(s) URL')
      // The payload is kept in Redis and shown by the dashboard and the job status: a
      // password here would be shown to every reader (the worker refuses it anyway).
      .refine((u) => !URL.canParse(u) || withoutCredentials(u), 'must not carry credentials'),
    size: z.number().int().min(0).optional(),
    sha256: sha256Schema.optional(),
  }),
]);
export type ArtifactSource = z.output<typeof artifactSourceSchema>;

/** User metadata stored on the object (x-amz-meta-*): small, plain keys. */
export const artifactMetadataSchema = z
  .record(
    z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits, -'),
    // Sent as an x-amz-meta-* header: text beyond printable ASCII cannot go through as given.
    z
      .string()
      .max(1024)
      .regex(/^[\x20-\x7e]*$/, 'printable ASCII'),
  )
  .refine((m) => Object.keys(m).length <= 16, 'at most 16 entries')
  .default({});
