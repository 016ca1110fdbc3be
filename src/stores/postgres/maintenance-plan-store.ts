import type pg from 'pg';
import type {
  MaintenancePlan,
  PlanItem,
  PlanItemOutcome,
  PlanStatus,
  StoredPlanItem,
} from '../../domain/maintenance-plan.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import { applySchemaDdl, assertSchemaName } from './postgres-schema-ddl.js';

/** What a plan's writer hands back once every item is in: the header's computed parts. */
export interface PlanTotals {
  digest: string;
  counts: Record<string, number>;
  summary: Record<string, unknown>;
}

/** A new plan's header before its items are written. */
export interface NewPlan {
  job: string;
  parameters: Record<string, unknown>;
  unplanned: readonly string[];
  planned_by: string;
}

/** A target's settled units by outcome, with the `at` range of those deleted. */
export type OutcomeCounts = Record<PlanItemOutcome, number> & {
  oldest: Date | null;
  newest: Date | null;
};

/** What an approval did. */
export type ApprovalResult =
  | { outcome: 'approved' | 'already_approved'; plan: MaintenancePlan }
  | { outcome: 'not_found' }
  | { outcome: 'digest_mismatch' | 'not_approvable' | 'expired'; plan: MaintenancePlan };

interface PlanRow {
  id: string;
  job: string;
  status: PlanStatus;
  digest: string;
  parameters: Record<string, unknown>;
  counts: Record<string, number>;
  summary: Record<string, unknown>;
  unplanned: string[];
  planned_by: string;
  planned_at: Date;
  approved_by: string | null;
  approved_at: Date | null;
  executed_at: Date | null;
  report: Record<string, unknown> | null;
  executions: number;
}

interface ItemRow {
  seq: number;
  target: string;
  unit: string;
  state: string;
  at: Date | null;
  outcome: PlanItemOutcome | null;
}

const PLAN_COLUMNS = `id::text AS id, job, status, digest, parameters, counts, summary, unplanned,
  planned_by, planned_at, approved_by, approved_at, executed_at, report, executions`;

/**
 * Maintenance plans in PostgreSQL: `maintenance_plans` holds one header per plan (status,
 * digest, parameters, counts, the dry-run summary, the last execution's report) and
 * `maintenance_plan_items` one row per planned unit with the state it had when planned and
 * what executing it did. A plan is written in one transaction: it exists whole or not at all.
 */
export class MaintenancePlanStore {
  private readonly plans: string;
  private readonly items: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { schema: string },
  ) {
    assertSchemaName(options.schema);
    this.plans = `"${options.schema}".maintenance_plans`;
    this.items = `"${options.schema}".maintenance_plan_items`;
  }

  /** Creates the schema and tables when missing (`stowage init`). */
  async init(): Promise<void> {
    await applySchemaDdl(this.pool, this.options.schema, async (client) => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.plans} (
          id bigserial PRIMARY KEY,
          job text NOT NULL,
          status text NOT NULL CHECK (status IN
            ('planned', 'approved', 'executing', 'executed', 'refused', 'expired')),
          digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
          parameters jsonb NOT NULL,
          counts jsonb NOT NULL,
          summary jsonb NOT NULL,
          unplanned text[] NOT NULL,
          planned_by text NOT NULL,
          planned_at timestamptz NOT NULL DEFAULT now(),
          approved_by text NULL,
          approved_at timestamptz NULL,
          executed_at timestamptz NULL,
          report jsonb NULL,
          executions integer NOT NULL DEFAULT 0
        )`);
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.items} (
          plan_id bigint NOT NULL REFERENCES ${this.plans} (id) ON DELETE CASCADE,
          seq integer NOT NULL,
          target text NOT NULL,
          unit text NOT NULL,
          state text NOT NULL,
          at timestamptz NULL,
          outcome text NULL CHECK (outcome IN ('deleted', 'drifted', 'skipped')),
          PRIMARY KEY (plan_id, seq)
        )`);
    });
  }

  /**
   * Writes a plan: the header, then the items `fill` adds (in plan order), then the totals
   * `fill` returns, all in one transaction. The plan starts `planned`.
   */
  async create(
    plan: NewPlan,
    fill: (add: (items: readonly PlanItem[]) => Promise<void>) => Promise<PlanTotals>,
  ): Promise<MaintenancePlan> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw classifyPostgresError(err);
    });
    let broken = false;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO ${this.plans}
           (job, status, digest, parameters, counts, summary, unplanned, planned_by)
         VALUES ($1, 'planned', $2, $3, '{}', '{}', $4, $5) RETURNING id::text AS id`,
        [plan.job, '0'.repeat(64), plan.parameters, plan.unplanned, plan.planned_by],
      );
      const id = rows[0]!.id;
      let seq = 0;
      const totals = await fill(async (items) => {
        if (items.length === 0) return;
        const first = seq;
        seq += items.length;
        await client.query(
          `INSERT INTO ${this.items} (plan_id, seq, target, unit, state, at)
           SELECT $1, $2 + n - 1, t, u, s, a
           FROM unnest($3::text[], $4::text[], $5::text[], $6::timestamptz[])
             WITH ORDINALITY AS i(t, u, s, a, n)`,
          [
            id,
            first,
            items.map((i) => i.target),
            items.map((i) => i.unit),
            items.map((i) => i.state),
            items.map((i) => i.at?.toISOString() ?? null),
          ],
        );
      });
      const { rows: stored } = await client.query<PlanRow>(
        `UPDATE ${this.plans} SET digest = $2, counts = $3, summary = $4 WHERE id = $1
         RETURNING ${PLAN_COLUMNS}`,
        [id, totals.digest, totals.counts, totals.summary],
      );
      await client.query('COMMIT');
      return stored[0]!;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw classifyPostgresError(err);
    } finally {
      client.release(broken);
    }
  }

  /** One plan's header; undefined when there is none. */
  async get(id: string): Promise<MaintenancePlan | undefined> {
    if (!/^[0-9]{1,18}$/.test(id)) return undefined;
    const { rows } = await this.query<PlanRow>(
      `SELECT ${PLAN_COLUMNS} FROM ${this.plans} WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  /** Plans newest first, after the cursor (an id), optionally of one status. */
  async list(options: {
    before?: string | undefined;
    status?: PlanStatus | undefined;
    limit: number;
  }): Promise<MaintenancePlan[]> {
    const { rows } = await this.query<PlanRow>(
      `SELECT ${PLAN_COLUMNS} FROM ${this.plans}
       WHERE ($1::bigint IS NULL OR id < $1::bigint) AND ($2::text IS NULL OR status = $2)
       ORDER BY id DESC LIMIT $3`,
      [options.before ?? null, options.status ?? null, options.limit],
    );
    return rows;
  }

  /**
   * A plan's items in plan order after `after` (a seq): of one target, and with `pending`
   * only those no execution has settled yet.
   */
  async listItems(
    id: string,
    options: { after?: number; limit: number; target?: string; pending?: boolean },
  ): Promise<StoredPlanItem[]> {
    const { rows } = await this.query<ItemRow>(
      `SELECT seq, target, unit, state, at, outcome FROM ${this.items}
       WHERE plan_id = $1 AND seq > $2 AND ($3::text IS NULL OR target = $3)
         AND (NOT $4 OR outcome IS NULL)
       ORDER BY seq LIMIT $5`,
      [id, options.after ?? -1, options.target ?? null, options.pending ?? false, options.limit],
    );
    return rows;
  }

  /**
   * Approves a `planned` plan when `digest` is its digest (what the approver saw) and it is
   * younger than `maxAgeMs` (an older one becomes `expired`). Approving an approved (or
   * executing, executed) plan again with its digest changes nothing: `already_approved`.
   */
  async approve(
    id: string,
    options: { digest: string; by: string; maxAgeMs: number },
  ): Promise<ApprovalResult> {
    const plan = await this.get(id);
    if (plan === undefined) return { outcome: 'not_found' };
    if (plan.digest !== options.digest) return { outcome: 'digest_mismatch', plan };
    if (plan.status === 'approved' || plan.status === 'executing' || plan.status === 'executed') {
      return { outcome: 'already_approved', plan };
    }
    if (plan.status !== 'planned') return { outcome: 'not_approvable', plan };
    // The digest and status are tested again in the UPDATE: two approvers racing, or a plan
    // expiring meanwhile, settle in one place.
    const { rows } = await this.query<PlanRow & { expired: boolean }>(
      `UPDATE ${this.plans}
       SET status = CASE WHEN planned_at < now() - make_interval(secs => $4::float8 / 1000)
                         THEN 'expired' ELSE 'approved' END,
           approved_by = CASE WHEN planned_at < now() - make_interval(secs => $4::float8 / 1000)
                              THEN NULL ELSE $3 END,
           approved_at = CASE WHEN planned_at < now() - make_interval(secs => $4::float8 / 1000)
                              THEN NULL ELSE now() END
       WHERE id = $1 AND digest = $2 AND status = 'planned'
       RETURNING ${PLAN_COLUMNS}`,
      [id, options.digest, options.by, options.maxAgeMs],
    );
    const updated = rows[0];
    if (updated === undefined) return this.approve(id, options);
    return { outcome: updated.status === 'expired' ? 'expired' : 'approved', plan: updated };
  }

  /**
   * Marks an approved plan `executing` (an `executing` one stays so: a re-delivered job
   * resumes it) and returns it as it now is; any other status is returned unchanged.
   */
  async startExecution(id: string): Promise<MaintenancePlan | undefined> {
    const { rows } = await this.query<PlanRow>(
      `UPDATE ${this.plans} SET status = 'executing'
       WHERE id = $1 AND status IN ('approved', 'executing') RETURNING ${PLAN_COLUMNS}`,
      [id],
    );
    return rows[0] ?? (await this.get(id));
  }

  /** Records what executing some items did. */
  async settle(
    id: string,
    outcomes: readonly { seq: number; outcome: PlanItemOutcome }[],
  ): Promise<void> {
    if (outcomes.length === 0) return;
    await this.query(
      `UPDATE ${this.items} AS i SET outcome = o.outcome
       FROM unnest($2::int[], $3::text[]) AS o(seq, outcome)
       WHERE i.plan_id = $1 AND i.seq = o.seq`,
      [id, outcomes.map((o) => o.seq), outcomes.map((o) => o.outcome)],
    );
  }

  /** Settled items per target: how many had each outcome, and the oldest and newest deleted. */
  async outcomeCounts(id: string): Promise<Record<string, OutcomeCounts>> {
    const { rows } = await this.query<{
      target: string;
      outcome: PlanItemOutcome;
      n: string;
      oldest: Date | null;
      newest: Date | null;
    }>(
      `SELECT target, outcome, count(*) AS n, min(at) AS oldest, max(at) AS newest
       FROM ${this.items} WHERE plan_id = $1 AND outcome IS NOT NULL GROUP BY 1, 2`,
      [id],
    );
    const counts: Record<string, OutcomeCounts> = {};
    for (const r of rows) {
      const c = (counts[r.target] ??= {
        deleted: 0,
        drifted: 0,
        skipped: 0,
        oldest: null,
        newest: null,
      });
      c[r.outcome] = Number(r.n);
      if (r.outcome === 'deleted') {
        c.oldest = r.oldest;
        c.newest = r.newest;
      }
    }
    return counts;
  }

  /** Marks an executing plan executed with its execution's report. */
  async finish(id: string, report: Record<string, unknown>): Promise<MaintenancePlan> {
    const { rows } = await this.query<PlanRow>(
      `UPDATE ${this.plans}
       SET status = 'executed', executed_at = now(), report = $2, executions = executions + 1
       WHERE id = $1 AND status = 'executing' RETURNING ${PLAN_COLUMNS}`,
      [id, report],
    );
    return rows[0] ?? (await this.get(id))!;
  }

  private async query<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text, values).catch((err: unknown) => {
      throw classifyPostgresError(err);
    });
  }
}
