import { randomUUID } from 'node:crypto';
import { formatTimestamp, toWatermarkView, type Watermark } from '../domain/watermark.js';
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
  await store.init();
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
 */
export async function watermarksSetCommand(
  ctx: OperatorContext,
  args: { sourceId: string; timestamp: Date; force: boolean; json: boolean },
): Promise<ExitCode> {
  const store = ctx.deps.watermarks;
  await store.init();
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

function backwards(sourceId: string, at: Date, asked: Date): string {
  return (
    `refused: ${sourceId}'s watermark is at ${formatTimestamp(at)}, later than ${formatTimestamp(asked)}; ` +
    'a watermark only moves forward (the store keeps the greatest success; --force does not rewind it)\n'
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
