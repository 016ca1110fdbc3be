import { z } from 'zod';
import { timestampSchema } from './timestamp.js';

/** Run outcomes a collector reports (seed 001). */
export const WATERMARK_STATUSES = ['success', 'failed'] as const;
export type WatermarkStatus = (typeof WATERMARK_STATUSES)[number];

/** Longest error message kept per run; longer ones are refused, not truncated silently. */
export const MAX_ERROR_MESSAGE_LENGTH = 4096;

/** A data source's id as collectors name it (`alienvault_otx`); case is kept. */
export const SOURCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A source id: 1..128 letters, digits, `_ . -`, not starting with a punctuation mark. */
export const sourceIdSchema = z
  .string()
  .regex(SOURCE_ID_PATTERN, 'letters, digits, _ . - (1..128), starting with a letter or digit');

/** Run timestamps follow the one timestamp rule of every Stowage payload. */
export const runTimestampSchema = timestampSchema;

/** One collection run as a collector reports it: the job payload of `watermark.commit`. */
export const watermarkCommitSchema = z.strictObject({
  source_id: sourceIdSchema,
  /** For a success, the newest data the run collected up to (the new watermark). */
  timestamp: runTimestampSchema,
  status: z.enum(WATERMARK_STATUSES),
  records_collected: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  error_message: z
    .string()
    .max(MAX_ERROR_MESSAGE_LENGTH)
    // PostgreSQL text cannot hold NUL, and a lone surrogate has no UTF-8 form: either would
    // be refused by the store or silently become other text.
    .refine(
      (s) => !s.includes('\u0000') && !/\p{Cs}/u.test(s),
      'must not contain NUL or unpaired surrogates',
    )
    .nullable()
    .optional(),
});

/** A validated run report. */
export type WatermarkCommit = z.output<typeof watermarkCommitSchema>;

/** The body of `PUT /api/v1/watermarks/{source_id}`: a commit without its source (the path has it). */
export const watermarkPutBodySchema = watermarkCommitSchema.omit({ source_id: true });

/** Longest reason an operator may give for a rewind. */
export const MAX_REWIND_REASON_LENGTH = 1000;

/** Printable text without NUL or lone surrogates, as PostgreSQL text keeps it. */
const storableText = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max)
    .refine(
      (s) => !s.includes('\u0000') && !/\p{Cs}/u.test(s),
      'must not contain NUL or unpaired surrogates',
    );

/**
 * The body of `POST /api/v1/watermarks/{source_id}/rewind` (admin): the earlier success
 * timestamp to go back to, and why; both are kept in the audit row.
 */
export const watermarkRewindBodySchema = z.strictObject({
  timestamp: runTimestampSchema,
  reason: storableText(MAX_REWIND_REASON_LENGTH),
});

/** Why a watermark is rewound (the API's `reason`, the CLI's `--reason`). */
export const rewindReasonSchema = watermarkRewindBodySchema.shape.reason;

/** A validated rewind request. */
export type WatermarkRewindBody = z.output<typeof watermarkRewindBodySchema>;

/** Who rewinds from the CLI (`--by`, else the OS user): a name for the audit row. */
export const rewindActorNameSchema = storableText(128);

/** Who rewound a watermark and through what: an API key's name, or the CLI's operator. */
export interface RewindActor {
  by: string;
  via: 'api' | 'cli';
}

/** One rewind as the audit table keeps it. */
export interface WatermarkRewind {
  id: number;
  source_id: string;
  from_timestamp: Date;
  to_timestamp: Date;
  rewound_by: string;
  via: 'api' | 'cli';
  reason: string;
  rewound_at: Date;
}

/** The audit row as the API and CLI show it. */
export interface WatermarkRewindView {
  id: number;
  source_id: string;
  from: string;
  to: string;
  by: string;
  via: 'api' | 'cli';
  reason: string;
  at: string;
}

/** A rewind audit row as the API shows it. */
export function toRewindView(rewind: WatermarkRewind): WatermarkRewindView {
  return {
    id: rewind.id,
    source_id: rewind.source_id,
    from: formatTimestamp(rewind.from_timestamp),
    to: formatTimestamp(rewind.to_timestamp),
    by: rewind.rewound_by,
    via: rewind.via,
    reason: rewind.reason,
    at: formatTimestamp(rewind.rewound_at),
  };
}

/**
 * A source's watermark as stored. `status`, `error_message`, `records_collected` and
 * `last_run_timestamp` describe the latest run (greatest run timestamp); the success
 * timestamp only ever moves forward.
 */
export interface Watermark {
  source_id: string;
  /** Null while the source has only failed runs. */
  last_successful_timestamp: Date | null;
  last_run_timestamp: Date;
  status: WatermarkStatus;
  records_collected: number;
  error_message: string | null;
  updated_at: Date;
}

/**
 * What a commit did: `advanced` moved the success timestamp forward; `stale` was a success
 * at or before it (a recorded no-op); `failed-run` recorded a failure.
 */
export const COMMIT_OUTCOMES = ['advanced', 'stale', 'failed-run'] as const;
export type CommitOutcome = (typeof COMMIT_OUTCOMES)[number];

/** The next state of a watermark after a commit, and what the commit did. */
export interface AppliedCommit {
  next: Omit<Watermark, 'updated_at'>;
  outcome: CommitOutcome;
  /** Whether the success timestamp moved (the history's `applied` column). */
  advanced: boolean;
  /** Whether anything in the watermark changed. */
  changed: boolean;
}

/**
 * Applies a run report to the current watermark (undefined before the first commit).
 * Order-independent for distinct timestamps: the success timestamp is the greatest success
 * seen, and the latest-run fields come from the greatest run timestamp seen (on a tie the
 * later commit wins, so a failure reported with the last watermark's timestamp shows).
 * A stale success changes nothing at all.
 */
export function applyCommit(
  current: Omit<Watermark, 'updated_at'> | undefined,
  commit: WatermarkCommit,
): AppliedCommit {
  const advanced = commit.status === 'success';
  const outcome: CommitOutcome = advanced ? 'advanced' : 'failed-run';
  const run = {
    last_run_timestamp: commit.timestamp,
    status: commit.status,
    records_collected: commit.records_collected ?? 0,
    error_message: commit.error_message ?? null,
  };
  if (current === undefined) {
    const next = {
      source_id: commit.source_id,
      last_successful_timestamp: advanced ? commit.timestamp : null,
      ...run,
    };
    return { next, outcome, advanced, changed: true };
  }
  const at = commit.timestamp.getTime();
  const lastSuccess = current.last_successful_timestamp?.getTime();
  if (advanced && lastSuccess !== undefined && at <= lastSuccess) {
    return { next: current, outcome: 'stale', advanced: false, changed: false };
  }
  const isLatestRun = at >= current.last_run_timestamp.getTime();
  const next = {
    ...current,
    ...(advanced ? { last_successful_timestamp: commit.timestamp } : {}),
    ...(isLatestRun ? run : {}),
  };
  return { next, outcome, advanced, changed: advanced || isLatestRun };
}

/**
 * Formats an instant like seed 001 does: `2024-01-01T12:00:00Z`, milliseconds only when
 * they are not zero.
 */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}

/** The watermark as the API answers it (seed 001's fields, plus the last error). */
export interface WatermarkView {
  source_id: string;
  last_successful_timestamp: string | null;
  last_run_timestamp: string;
  status: WatermarkStatus;
  records_collected: number;
  error_message: string | null;
}

/** A stored watermark as the API shows it. */
export function toWatermarkView(watermark: Watermark): WatermarkView {
  return {
    source_id: watermark.source_id,
    last_successful_timestamp:
      watermark.last_successful_timestamp === null
        ? null
        : formatTimestamp(watermark.last_successful_timestamp),
    last_run_timestamp: formatTimestamp(watermark.last_run_timestamp),
    status: watermark.status,
    records_collected: watermark.records_collected,
    error_message: watermark.error_message,
  };
}
