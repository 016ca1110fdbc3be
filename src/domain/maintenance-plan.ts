// A maintenance plan: exactly what a destructive job (retention.cleanup) will delete, stored
// before anything is deleted, digested, approved, then executed against that list only.

import { createHash, type Hash } from 'node:crypto';

/** Where a plan is in its life: planned → approved → executing → executed (or refused/expired). */
export const PLAN_STATUSES = [
  'planned',
  'approved',
  'executing',
  'executed',
  'refused',
  'expired',
] as const;
export type PlanStatus = (typeof PLAN_STATUSES)[number];

/** What executing one planned unit did. */
export const PLAN_ITEM_OUTCOMES = ['deleted', 'drifted', 'skipped'] as const;
export type PlanItemOutcome = (typeof PLAN_ITEM_OUTCOMES)[number];

/**
 * One unit a plan deletes, as it was when planned. For the hot IOC target: `unit` is
 * `type|value`, `state` the row version (PostgreSQL) or the latest sighting's insert second
 * (ClickHouse), `at` its last_seen. A unit deleted only while it is still in that state.
 */
export interface PlanItem {
  readonly target: string;
  readonly unit: string;
  readonly state: string;
  readonly at: Date | null;
}

/** A stored plan item with its place in the plan and what executing it did. */
export interface StoredPlanItem extends PlanItem {
  readonly seq: number;
  readonly outcome: PlanItemOutcome | null;
}

/** A plan's header as stored (its items are in their own table). */
export interface MaintenancePlan {
  readonly id: string;
  /** The job that plans and executes it, e.g. `retention.cleanup`. */
  readonly job: string;
  readonly status: PlanStatus;
  /** SHA-256 (hex) of the canonical parameters and items: what an approver approves. */
  readonly digest: string;
  /** The run's parameters: as_of, windows, cutoffs, targets, backend. */
  readonly parameters: Record<string, unknown>;
  /** Planned units per target (targets that execute live are absent). */
  readonly counts: Record<string, number>;
  /** The dry-run report the plan was made with (what `dry_run: true` returns). */
  readonly summary: Record<string, unknown>;
  /** Targets that are not plan-based yet: they execute live at their own checks. */
  readonly unplanned: readonly string[];
  readonly planned_by: string;
  readonly planned_at: Date;
  readonly approved_by: string | null;
  readonly approved_at: Date | null;
  readonly executed_at: Date | null;
  /** The last execution's report; null until one finished. */
  readonly report: Record<string, unknown> | null;
  /** Executions that ran (a re-delivered job of an executed plan does not count). */
  readonly executions: number;
}

/** Marks a target the plan does not list unit by unit. */
export const UNPLANNED = 'unplanned (executes live)';

/**
 * The digest of a plan, fed in the order the plan is written: the parameters (keys sorted),
 * then every item, one line each. Two plans have the same digest only when they list the same
 * units in the same states under the same parameters.
 */
export class PlanDigest {
  private readonly hash: Hash = createHash('sha256');

  constructor(parameters: Record<string, unknown>) {
    this.hash.update(`${canonicalJson(parameters)}\n`);
  }

  /** Adds one item (in plan order). */
  add(item: PlanItem): void {
    this.hash.update(
      `${item.target}\t${JSON.stringify(item.unit)}\t${item.state}\t${item.at?.toISOString() ?? ''}\n`,
    );
  }

  /** The hex digest; the digest cannot be fed afterwards. */
  hex(): string {
    return this.hash.digest('hex');
  }
}

/** JSON with object keys sorted at every depth: one text per value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A hot IOC's plan unit: `type|value` (a type never holds `|`). */
export function iocUnit(type: string, value: string): string {
  return `${type}|${value}`;
}

/** The type and value of a hot IOC's plan unit. */
export function parseIocUnit(unit: string): { type: string; value: string } {
  const bar = unit.indexOf('|');
  return { type: unit.slice(0, bar), value: unit.slice(bar + 1) };
}
