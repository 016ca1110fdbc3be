import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { IocType, StoredIoc } from '../../domain/ioc.js';
import { classifyPostgresError } from './classify-postgres-error.js';
import {
  foldStats,
  type IocCount,
  type IocFilter,
  type IocKeyCursor,
  type IocPage,
  type IocSearch,
  type IocStats,
} from '../hot/ioc-search.js';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// As PostgresHotStore reads them: times as epoch milliseconds.
const SELECT_COLUMNS = `type, value, threat_type, confidence, sources,
  (extract(epoch FROM first_seen) * 1000)::float8 AS first_seen_ms,
  (extract(epoch FROM last_seen) * 1000)::float8 AS last_seen_ms, tags`;

// The address of an ipv4/ipv6 row, NULL for any other (the cast would fail on a domain).
// Written exactly as in iocs_inet_idx, so that the planner matches it; the CASE keeps the
// cast off other rows whatever order the planner evaluates the conditions in.
const INET = `(CASE WHEN type IN ('ipv4', 'ipv6') THEN value::inet END)`;

/**
 * The indexes behind the filters (docs/SEARCH.md has the plans): the primary key (type,
 * value) serves `type` and the key order every page is in; last_seen's (PostgresHotStore)
 * serves seen_since/seen_until.
 */
const INDEXES = (table: string) => [
  // threat_type equality, then the key order: a page of one threat type is a range scan
  // from the cursor, confidence checked on each row.
  `CREATE INDEX IF NOT EXISTS iocs_threat_type_key_idx ON ${table} (threat_type, type, value)`,
  // A confidence range alone (e.g. >= 0.99, few rows): a bitmap of them, then a sort.
  `CREATE INDEX IF NOT EXISTS iocs_confidence_idx ON ${table} (confidence)`,
  // tag = any of tags: `tags @> ARRAY[t]`.
  `CREATE INDEX IF NOT EXISTS iocs_tags_idx ON ${table} USING gin (tags)`,
  // cidr: `<<=` on a btree of inet is a range scan (PostgreSQL's network_subset_support).
  `CREATE INDEX IF NOT EXISTS iocs_inet_idx ON ${table} (${INET}) WHERE type IN ('ipv4', 'ipv6')`,
];

interface IocRow {
  type: string;
  value: string;
  threat_type: string;
  confidence: number;
  sources: string[];
  first_seen_ms: number;
  last_seen_ms: number;
  tags: string[];
}

/** IocSearch over PostgresHotStore's table (`<schema>.iocs`). */
export class PostgresIocSearch implements IocSearch {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    options: { schema: string },
  ) {
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new TypeError(`not a plain PostgreSQL schema name: ${JSON.stringify(options.schema)}`);
    }
    this.table = `"${options.schema}".iocs`;
  }

  async init(): Promise<void> {
    let client: pg.PoolClient | undefined;
    let broken = false;
    try {
      // After PostgresHotStore.init (the table exists); IF NOT EXISTS makes a rerun free.
      // CREATE INDEX IF NOT EXISTS is not race-free either: concurrent inits take turns.
      client = await this.pool.connect();
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(this.table)]);
      for (const ddl of INDEXES(this.table)) await client.query(ddl);
      await client.query('COMMIT');
    } catch (err) {
      await client?.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw classifyPostgresError(err);
    } finally {
      client?.release(broken);
    }
  }

  async search(filter: IocFilter, page: { limit: number; after?: IocKeyCursor }): Promise<IocPage> {
    assertLimit(page.limit);
    const params: unknown[] = [];
    const where = conditions(filter, params);
    if (page.after !== undefined) {
      params.push(page.after.type, page.after.value);
      where.push(`(type, value) > ($${params.length - 1}::text, $${params.length}::text)`);
    }
    // One row more than the page: whether there is a next page, without a second query.
    params.push(page.limit + 1);
    try {
      const { rows } = await this.pool.query<IocRow>(
        `SELECT ${SELECT_COLUMNS} FROM ${this.table}
         ${whereClause(where)}
         ORDER BY type, value
         LIMIT $${params.length}`,
        params,
      );
      const items = rows.slice(0, page.limit).map(toStoredIoc);
      const last = items.at(-1);
      return rows.length > page.limit && last !== undefined
        ? { items, next: { type: last.type, value: last.value } }
        : { items };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async count(filter: IocFilter, cap: number): Promise<IocCount> {
    assertLimit(cap);
    const params: unknown[] = [];
    const where = conditions(filter, params);
    params.push(cap + 1);
    try {
      // The LIMIT inside bounds the rows read: past cap + 1 the scan stops.
      const { rows } = await this.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM (
           SELECT 1 FROM ${this.table} ${whereClause(where)} LIMIT $${params.length}) AS matching`,
        params,
      );
      const n = Number(rows[0]?.n ?? 0);
      return n > cap ? { count: cap, capped: true } : { count: n, capped: false };
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async stats(): Promise<IocStats> {
    try {
      const { rows } = await this.pool.query<{
        type: string;
        threat_type: string;
        bucket: number;
        n: string;
      }>(
        `SELECT type, threat_type,
                least(9, greatest(0, floor(confidence * 10)))::int AS bucket, count(*) AS n
         FROM ${this.table}
         GROUP BY 1, 2, 3`,
      );
      return foldStats(rows.map((r) => ({ ...r, n: Number(r.n) })));
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }

  async delete(type: IocType, value: string): Promise<boolean> {
    try {
      const { rowCount } = await this.pool.query(
        `DELETE FROM ${this.table} WHERE type = $1 AND value = $2`,
        [type, value],
      );
      return (rowCount ?? 0) > 0;
    } catch (err) {
      throw classifyPostgresError(err);
    }
  }
}

/** The WHERE conditions of a filter; values go to `params` (never into the SQL text). */
function conditions(filter: IocFilter, params: unknown[]): string[] {
  const add = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (filter.type !== undefined) where.push(`type = ${add(filter.type)}::text`);
  if (filter.threatType !== undefined) {
    where.push(`threat_type = ${add(filter.threatType)}::text`);
  }
  if (filter.minConfidence !== undefined) {
    where.push(`confidence >= ${add(filter.minConfidence)}::float8`);
  }
  if (filter.maxConfidence !== undefined) {
    where.push(`confidence <= ${add(filter.maxConfidence)}::float8`);
  }
  if (filter.source !== undefined) where.push(`sources @> ARRAY[${add(filter.source)}::text]`);
  if (filter.tag !== undefined) where.push(`tags @> ARRAY[${add(filter.tag)}::text]`);
  if (filter.cidr !== undefined) {
    // The type literal (one of two constants) lets the planner prove the partial index applies.
    const family = filter.cidr.family === 4 ? 'ipv4' : 'ipv6';
    where.push(`type = '${family}'`, `${INET} <<= ${add(filter.cidr.text)}::cidr`);
  }
  if (filter.seenSince !== undefined) {
    where.push(`last_seen >= ${add(filter.seenSince.toISOString())}::timestamptz`);
  }
  if (filter.seenUntil !== undefined) {
    where.push(`last_seen < ${add(filter.seenUntil.toISOString())}::timestamptz`);
  }
  return where;
}

function whereClause(where: readonly string[]): string {
  return where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
}

/** A 64-bit advisory lock id per table (init of the search indexes). */
function lockKey(table: string): string {
  const digest = createHash('sha256').update(`stowage:ioc-search:init:${table}`).digest();
  return digest.readBigInt64BE(0).toString();
}

function assertLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }
}

function toStoredIoc(row: IocRow): StoredIoc {
  return {
    type: row.type as IocType,
    value: row.value,
    threat_type: row.threat_type,
    confidence: row.confidence,
    sources: [...row.sources].sort(),
    first_seen: new Date(row.first_seen_ms),
    last_seen: new Date(row.last_seen_ms),
    tags: [...row.tags].sort(),
  };
}
