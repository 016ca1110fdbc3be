import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { timestampBoundsProblem } from '../domain/timestamp.js';
import {
  formatTimestamp,
  toRewindView,
  toWatermarkView,
  type Watermark,
} from '../domain/watermark.js';
import { ValidationError } from '../errors/index.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { OperatorContext } from './operator-context.js';
import { writeJson } from './operator-context.js';
import { cell, formatFields, formatTable } from './table.js';

/** `stowage watermarks get [source_id]`: one source's watermark, or every source's. */
export async function watermarksGetCommand(
  ctx: OperatorContext,
  args: { sourceId?: string | undefined; json: boolean },
): Promise<ExitCode> {
  const store = ctx.deps.watermarks;
  await ctx.deps.checkSchema(); // no DDL from an operator command: `stowage init` owns the schema
  if (args.sourceId === undefined) {
    const views = (await store.list()).map(toWatermarkView);
    if (args.json) writeJson(ctx.io, views);
    else if (views.length === 0) ctx.io.stdout.write('no watermark recorded yet\n');
    else {
      ctx.io.stdout.write(
        `${formatTable(
          ['SOURCE', 'LAST SUCCESS', 'LAST RUN', 'STATUS', 'RECORDS', 'ERROR'],
          views.map((v) => [
            v.source_id,
            cell(v.last_successful_timestamp),
            v.last_run_timestamp,
            v.status,
            String(v.records_collected),
            cell(v.error_message),
          ]),
        )}\n`,
      );
    }
    return EXIT.ok;
  }
  const watermark = await store.get(args.sourceId);
  if (!watermark) {
    ctx.io.stderr.write(`no watermark for source "${args.sourceId}" yet\n`);
    return EXIT.failure;
  }
  writeWatermark(ctx, watermark, args.json);
  return EXIT.ok;
}

/**
 * `stowage watermarks set <source_id> --timestamp ISO [--force]`: records a successful run
 * up to the timestamp, through the same commit as collectors. The store's contract (seed
 * 001, DESIGN.md) is that the success timestamp only moves forward, so an earlier timestamp
 * is refused with or without --force; --force is needed to create a source's first
 * watermark, so that a mistyped source id does not silently become a new source.
 * With `--rewind --reason TEXT [--by NAME]` it goes back instead, audited (see rewind).
 */
export async function watermarksSetCommand(
  ctx: OperatorContext,
  args: {
    sourceId: string;
    timestamp: Date;
    force: boolean;
    rewind?: { reason: string; by?: string | undefined } | undefined;
    json: boolean;
  },
): Promise<ExitCode> {
  // The same bounds as the api (the configuration is loaded by now): exit 2 naming the field.
  const problem = timestampBoundsProblem(args.timestamp);
  if (problem !== undefined) throw new ValidationError([{ path: 'timestamp', message: problem }]);
  if (args.rewind) return rewind(ctx, { ...args, rewind: args.rewind });
  const store = ctx.deps.watermarks;
  await ctx.deps.checkSchema(); // no DDL from an operator command: `stowage init` owns the schema
  const current = await store.get(args.sourceId);
  if (!current && !args.force) {
    ctx.io.stderr.write(
      `no watermark for source "${args.sourceId}" yet; add --force to create it\n`,
    );
    return EXIT.failure;
  }
  const at = current?.last_successful_timestamp;
  if (at && args.timestamp.getTime() < at.getTime()) {
    ctx.io.stderr.write(backwards(args.sourceId, at, args.timestamp));
    return EXIT.failure;
  }
  if (at && args.timestamp.getTime() === at.getTime()) {
    ctx.io.stderr.write(`${args.sourceId} is already at ${formatTimestamp(at)}; nothing written\n`);
    writeWatermark(ctx, current, args.json);
    return EXIT.ok;
  }
  const result = await store.commit(
    { source_id: args.sourceId, timestamp: args.timestamp, status: 'success', error_message: null },
    // Marks the history row as an operator's, not a collector's.
    { jobId: `cli.watermarks-set.${randomUUID()}` },
  );
  if (result.outcome === 'stale') {
    // A collector committed a later timestamp between our read and our commit.
    const now = result.watermark.last_successful_timestamp ?? args.timestamp;
    ctx.io.stderr.write(backwards(args.sourceId, now, args.timestamp));
    return EXIT.failure;
  }
  writeWatermark(ctx, result.watermark, args.json);
  return EXIT.ok;
}

/**
 * `watermarks set --rewind`: moves the success timestamp back, writing an audit row with
 * the operator (--by, else the OS user), the reason, and from and to. Whoever can run the
 * operator CLI against the database is an admin; collectors only hold API ingest keys.
 */
async function rewind(
  ctx: OperatorContext,
  args: {
    sourceId: string;
    timestamp: Date;
    rewind: { reason: string; by?: string | undefined };
    json: boolean;
  },
): Promise<ExitCode> {
  const store = ctx.deps.watermarks;
  await ctx.deps.checkSchema(); // no DDL from an operator command: `stowage init` owns the schema
  const result = await store.rewind(args.sourceId, args.timestamp, {
    by: args.rewind.by ?? osUser(),
    via: 'cli',
    reason: args.rewind.reason,
  });
  if (result.outcome === 'not-found') {
    ctx.io.stderr.write(`no watermark for source "${args.sourceId}"; nothing to rewind\n`);
    return EXIT.failure;
  }
  if (result.outcome === 'not-earlier') {
    const at = result.watermark.last_successful_timestamp;
    ctx.io.stderr.write(
      at === null
        ? `refused: ${args.sourceId} has no successful run to rewind from\n`
        : `refused: ${args.sourceId}'s watermark is at ${formatTimestamp(at)}, not later than ` +
            `${formatTimestamp(args.timestamp)}; --rewind only goes back (without it, set moves forward)\n`,
    );
    return EXIT.failure;
  }
  const audit = toRewindView(result.rewind);
  if (args.json) {
    writeJson(ctx.io, { watermark: toWatermarkView(result.watermark), rewind: audit });
    return EXIT.ok;
  }
  ctx.io.stderr.write(
    `rewound ${audit.source_id} from ${audit.from} to ${audit.to} (by ${audit.by}, audit #${audit.id})\n`,
  );
  writeWatermark(ctx, result.watermark, false);
  return EXIT.ok;
}

/** The OS user running the CLI, for the audit row when --by is not given. */
function osUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    // A container user without a passwd entry has no name.
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

function backwards(sourceId: string, at: Date, asked: Date): string {
  return (
    `refused: ${sourceId}'s watermark is at ${formatTimestamp(at)}, later than ${formatTimestamp(asked)}; ` +
    'a watermark only moves forward (--force does not rewind it; an admin can: --rewind --reason TEXT)\n'
  );
}

function writeWatermark(ctx: OperatorContext, watermark: Watermark, json: boolean): void {
  const view = toWatermarkView(watermark);
  if (json) {
    writeJson(ctx.io, view);
    return;
  }
  ctx.io.stdout.write(
    `${formatFields([
      ['source', view.source_id],
      ['last success', cell(view.last_successful_timestamp)],
      ['last run', view.last_run_timestamp],
      ['status', view.status],
      ['records', String(view.records_collected)],
      ['error', cell(view.error_message)],
    ])}\n`,
  );
}
