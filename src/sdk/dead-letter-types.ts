// What the SDK's dead-letter and schedule methods send and receive.
import type { z } from 'zod';
import type {
  deadLetterPageSchema,
  deadLetterRetriedSchema,
  deadLettersPurgedSchema,
  deadLetterViewSchema,
} from '../domain/api/dead-letters.js';
import type { scheduleViewSchema } from '../domain/api/schedules.js';

/** A job that failed for good (`GET /v1/dead-letters/{id}`). */
export type DeadLetter = z.output<typeof deadLetterViewSchema>;

/** `200` of `GET /v1/dead-letters`: one page, newest first. */
export type DeadLetterPage = z.output<typeof deadLetterPageSchema>;

/** `200` of `POST /v1/dead-letters/{id}/retry`. */
export type DeadLetterRetried = z.output<typeof deadLetterRetriedSchema>;

/** `200` of `DELETE /v1/dead-letters/{id}` and `POST /v1/dead-letters/purge`. */
export type DeadLettersPurged = z.output<typeof deadLettersPurgedSchema>;

/** The filters of `listDeadLetters`. */
export interface DeadLetterQuery {
  queue?: string;
  type?: string;
  tenant?: string;
  since?: Date | string;
  cursor?: string;
  limit?: number;
}

/** Which dead letters `purgeDeadLetters` removes: a filter, or `{ all: true }`. */
export interface DeadLetterPurge {
  queue?: string;
  type?: string;
  tenant?: string;
  since?: Date | string;
  before?: Date | string;
  all?: boolean;
}

/** One schedule (`GET /v1/schedules`). */
export type Schedule = z.output<typeof scheduleViewSchema>;
