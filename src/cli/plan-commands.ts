import { userInfo } from 'node:os';
import { toPlanItemView, toPlanView } from '../domain/api/plans.js';
import { ConflictError, NotFoundError } from '../errors/index.js';
import { approvePlan } from '../../queues/use-cases/approve-plan.js';
import { getPlan } from '../../queues/use-cases/get-plan.js';
import { listPlans } from '../../queues/use-cases/list-plans.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { OperatorContext } from './operator-context.js';
import { writeJson } from './operator-context.js';
import type { PlanCommand } from './plan-args.js';
import { cell, formatFields, formatTable } from './table.js';

/**
 * `stowage plans list|show|approve`: maintenance plans straight through PostgreSQL; approve
 * enqueues the execution, as the api's approve route does.
 */
export async function planCommand(ctx: OperatorContext, cmd: PlanCommand): Promise<ExitCode> {
  const plans = ctx.deps.maintenancePlans;
  await ctx.deps.checkSchema(); // no DDL from an operator command: `stowage init` owns the schema
  try {
    if (cmd.command === 'plans-list') {
      const page = await listPlans(cmd, { plans });
      const views = page.plans.map(toPlanView);
      if (cmd.json) writeJson(ctx.io, { plans: views, next_cursor: page.nextCursor });
      else if (views.length === 0) ctx.io.stdout.write('no plan\n');
      else {
        ctx.io.stdout.write(
          `${formatTable(
            ['ID', 'JOB', 'STATUS', 'UNITS', 'PLANNED', 'APPROVED BY', 'DIGEST'],
            views.map((p) => [
              p.id,
              p.job,
              p.status,
              Object.entries(p.counts)
                .map(([t, n]) => `${t}:${n}`)
                .join(' '),
              p.planned_at,
              p.approved_by ?? '',
              p.digest.slice(0, 12),
            ]),
          )}\n`,
        );
        if (page.nextCursor !== null) ctx.io.stderr.write(`more: --cursor ${page.nextCursor}\n`);
      }
      return EXIT.ok;
    }
    if (cmd.command === 'plans-show') {
      const found = await getPlan({ id: cmd.id, cursor: cmd.cursor, limit: cmd.limit }, { plans });
      const plan = toPlanView(found.plan);
      const items = found.items.map(toPlanItemView);
      if (cmd.json) {
        writeJson(ctx.io, { plan, items, next_cursor: found.nextCursor });
        return EXIT.ok;
      }
      ctx.io.stdout.write(
        `${formatFields([
          ['id', plan.id],
          ['job', plan.job],
          ['status', plan.status],
          ['digest', plan.digest],
          ['units', cell(JSON.stringify(plan.counts))],
          ['unplanned', plan.unplanned.join(', ') || '-'],
          ['parameters', cell(JSON.stringify(plan.parameters))],
          ['planned', `${plan.planned_at} by ${plan.planned_by}`],
          ['approved', plan.approved_at ? `${plan.approved_at} by ${plan.approved_by}` : '-'],
          ['executed', plan.executed_at ?? '-'],
        ])}\n`,
      );
      if (items.length > 0) {
        ctx.io.stdout.write(
          `\n${formatTable(
            ['#', 'TARGET', 'UNIT', 'STATE', 'AT', 'OUTCOME'],
            items.map((i) => [
              String(i.seq),
              i.target,
              cell(i.unit),
              i.state,
              i.at ?? '',
              i.outcome ?? '',
            ]),
          )}\n`,
        );
      }
      if (found.nextCursor !== null) ctx.io.stderr.write(`more: --cursor ${found.nextCursor}\n`);
      return EXIT.ok;
    }
    await ctx.requireRedis();
    // Whoever can run the operator CLI against the database is an admin (as for rewinds).
    const approved = await approvePlan(
      { id: cmd.id, digest: cmd.digest, by: `cli:${cmd.by ?? userInfo().username}` },
      {
        plans,
        producer: ctx.producer,
        maxAgeMs: ctx.deps.settings.retention.planMaxAgeMs,
      },
    );
    const view = { plan: toPlanView(approved.plan), job: { id: approved.jobId } };
    if (cmd.json) writeJson(ctx.io, view);
    else {
      ctx.io.stdout.write(
        `plan ${view.plan.id} ${view.plan.status} by ${view.plan.approved_by ?? '?'}; execution job ${approved.jobId}\n`,
      );
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof ConflictError) {
      ctx.io.stderr.write(`${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
}
