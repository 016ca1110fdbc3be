// Plan → approve → execute for retention.cleanup, through the real api and BullMQ workers
// against the local PostgreSQL and ClickHouse: the dry run stores the plan, an admin approves
// it by digest, and the execution deletes exactly the plan's rows, except a row that changed
// after the approval.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredIoc } from '../../src/domain/ioc.js';
import type { PlanDetail, PlanApproved } from '../../src/domain/api/plans.js';
import type { RetentionReport } from '../../jobs/retention-cleanup/report.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const run = promisify(execFile);
const DAY = 86_400_000;
const OLD = Date.now() - 100 * DAY;

function ioc(value: string, lastSeen: number, sources = ['otx']): StoredIoc {
  return {
    type: 'domain',
    value,
    threat_type: 'c2',
    confidence: 0.8,
    sources,
    first_seen: new Date(lastSeen - 3_600_000),
    last_seen: new Date(lastSeen),
    tags: [],
  };
}

describe.each(['postgres', 'clickhouse'] as const)('retention plans on %s', (hotStore) => {
  let world: StowageWorld | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  async function open() {
    world = new StowageWorld({
      HOT_STORE: hotStore,
      ARCHIVE_ENABLED: 'false',
      RETENTION_APPROVAL: 'manual',
      RETENTION_BATCH_SIZE: '100',
    });
    await world.initStores();
    const base = await world.startApi();
    const w = world;
    const call = async <T>(
      method: string,
      path: string,
      body?: unknown,
      key: string = TEST_KEYS.admin,
    ) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as T };
    };
    /** Waits for a job to finish; its report, or its failure reason. */
    const finished = async (id: string) => {
      const job = await eventually(
        async () => {
          const j = await Job.fromId(w.queues.get('maintenance'), id);
          return j?.finishedOn ? j : undefined;
        },
        60_000,
        `job ${id}`,
      );
      return {
        report: job.returnvalue as RetentionReport,
        failed: job.failedReason as string | undefined,
      };
    };
    const maintenance = async (payload: unknown) => {
      const res = await call<{ id: string }>('POST', '/v1/maintenance/retention.cleanup', payload);
      expect(res.status).toBe(202);
      return finished(res.body.id);
    };
    const hot = w.deps.hotStore;
    const present = async (...values: string[]) =>
      Promise.all(values.map(async (v) => (await hot.get('domain', v)) !== undefined));
    return { w, call, finished, maintenance, present };
  }

  it('an approved plan deletes exactly its rows; a row that changed after approval stays and is reported drifted', async () => {
    const { w, call, finished, maintenance, present } = await open();
    const old = Array.from({ length: 6 }, (_, i) => ioc(`old-${i}.example.com`, OLD + i * 1_000));
    await w.deps.hotStore.upsert([...old, ioc('recent.example.com', Date.now() - DAY)]);

    // The dry run is the plan.
    let worker = await w.startWorker(['maintenance']);
    const dry = await maintenance({ dry_run: true, targets: ['hot'] });
    expect(dry.failed).toBeFalsy();
    expect(dry.report.dry_run).toBe(true);
    expect(dry.report.targets.hot).toMatchObject({ rows: 6, planned: 6, batches: 1 });
    const planRef = dry.report.plan!;
    expect(planRef).toMatchObject({ status: 'planned', counts: { hot: 6 } });
    expect(planRef.digest).toMatch(/^[0-9a-f]{64}$/);
    await worker.stop(2_000);

    // What the plan lists, unit by unit, in two pages.
    const first = await call<PlanDetail>(
      'GET',
      `/v1/plans/${planRef.id}?limit=4`,
      undefined,
      TEST_KEYS.read,
    );
    expect(first.status).toBe(200);
    expect(first.body.plan).toMatchObject({ status: 'planned', digest: planRef.digest });
    const second = await call<PlanDetail>(
      'GET',
      `/v1/plans/${planRef.id}?limit=4&cursor=${first.body.next_cursor}`,
    );
    const units = [...first.body.items, ...second.body.items].map((i) => i.unit).sort();
    expect(units).toEqual(old.map((i) => `domain|${i.value}`).sort());
    expect(second.body.next_cursor).toBeNull();
    const listed = await call<{ plans: { id: string }[] }>('GET', '/v1/plans?status=planned');
    expect(listed.body.plans.map((p) => p.id)).toContain(planRef.id);

    // A row past the window that arrives after planning is not in the plan.
    await w.deps.hotStore.upsert([ioc('late.example.com', OLD)]);

    // Approval names the digest reviewed: another one is refused and approves nothing.
    const wrong = await call('POST', `/v1/plans/${planRef.id}/approve`, { digest: 'f'.repeat(64) });
    expect(wrong.status).toBe(409);
    const readOnly = await call(
      'POST',
      `/v1/plans/${planRef.id}/approve`,
      { digest: planRef.digest },
      TEST_KEYS.read,
    );
    expect(readOnly.status).toBe(403);
    expect((await call<PlanDetail>('GET', `/v1/plans/${planRef.id}`)).body.plan.status).toBe(
      'planned',
    );
    const approved = await call<PlanApproved>('POST', `/v1/plans/${planRef.id}/approve`, {
      digest: planRef.digest,
    });
    expect(approved.status).toBe(200);
    expect(approved.body.plan).toMatchObject({ status: 'approved', approved_by: 'admin-client' });

    // After the approval (the execution waits: no worker runs), old-0 is seen again from
    // another source, still past the window: it is no longer the row that was approved.
    await w.deps.hotStore.upsert([ioc('old-0.example.com', OLD + 500, ['misp'])]);

    worker = await w.startWorker(['maintenance']);
    const executed = await finished(approved.body.job.id);
    expect(executed.failed).toBeFalsy();
    expect(executed.report.dry_run).toBe(false);
    expect(executed.report.targets.hot).toMatchObject({
      rows: 5,
      planned: 6,
      drifted: 1,
      gone: 0,
      kept_changed_since_archive: 1,
    });
    expect(
      await present(
        'old-0.example.com',
        'old-1.example.com',
        'old-2.example.com',
        'old-3.example.com',
        'old-4.example.com',
        'old-5.example.com',
        'late.example.com',
        'recent.example.com',
      ),
    ).toEqual([true, false, false, false, false, false, true, true]);
    expect(await w.deps.hotStore.count()).toBe(3);

    // The report and each unit's outcome stay with the plan.
    const after = await call<PlanDetail>('GET', `/v1/plans/${planRef.id}`);
    expect(after.body.plan).toMatchObject({ status: 'executed', executions: 1 });
    expect(after.body.plan.report).toMatchObject({ targets: { hot: { rows: 5, drifted: 1 } } });
    const outcomes = Object.fromEntries(after.body.items.map((i) => [i.unit, i.outcome]));
    expect(outcomes).toEqual({
      'domain|old-0.example.com': 'drifted',
      'domain|old-1.example.com': 'deleted',
      'domain|old-2.example.com': 'deleted',
      'domain|old-3.example.com': 'deleted',
      'domain|old-4.example.com': 'deleted',
      'domain|old-5.example.com': 'deleted',
    });

    // A second execution (at-least-once delivery, or an operator) changes nothing.
    const again = await maintenance({ dry_run: false, plan_id: planRef.id });
    expect(again.failed).toBeFalsy();
    expect(again.report).toEqual(executed.report);
    expect(await w.deps.hotStore.count()).toBe(3);
    const reapproved = await call<PlanApproved>('POST', `/v1/plans/${planRef.id}/approve`, {
      digest: planRef.digest,
    });
    expect(reapproved.status).toBe(200);
    await finished(reapproved.body.job.id);
    expect((await call<PlanDetail>('GET', `/v1/plans/${planRef.id}`)).body.plan.executions).toBe(1);
    expect(await w.deps.hotStore.count()).toBe(3);
    await worker.stop(2_000);
  });

  it('with RETENTION_APPROVAL=manual a plain run only plans; a plan that is not approved is refused and deletes nothing', async () => {
    const { w, call, maintenance } = await open();
    await w.deps.hotStore.upsert([ioc('a.example.com', OLD), ioc('b.example.com', OLD + 1_000)]);
    await w.startWorker(['maintenance']);

    const plain = await maintenance({ dry_run: false, targets: ['hot'] });
    expect(plain.failed).toBeFalsy();
    expect(plain.report).toMatchObject({
      dry_run: true,
      plan: { status: 'planned', counts: { hot: 2 } },
    });
    expect(await w.deps.hotStore.count()).toBe(2);

    const refused = await maintenance({ dry_run: false, plan_id: plain.report.plan!.id });
    expect(refused.failed).toMatch(/planned, not approved/);
    expect(await w.deps.hotStore.count()).toBe(2);
    expect(
      (await call<PlanDetail>('GET', `/v1/plans/${plain.report.plan!.id}`)).body.plan,
    ).toMatchObject({ status: 'planned', executions: 0, report: null });
    const missing = await call('POST', '/v1/plans/999999/approve', { digest: 'a'.repeat(64) });
    expect(missing.status).toBe(404);
  });
});

describe('stowage plans', () => {
  let world: StowageWorld | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it('lists and shows a plan, refuses another digest (exit 1) and approves by the digest shown, which executes it', async () => {
    world = new StowageWorld({ ARCHIVE_ENABLED: 'false', RETENTION_APPROVAL: 'manual' });
    const w = world;
    await w.initStores();
    await w.deps.hotStore.upsert([ioc('cli-a.example.com', OLD), ioc('cli-b.example.com', OLD)]);
    await w.startWorker(['maintenance']);
    const { id } = await w.producer.enqueue('retention.cleanup', {
      dry_run: true,
      targets: ['hot'],
    });
    const dry = await eventually(
      async () => {
        const j = await Job.fromId(w.queues.get('maintenance'), id);
        return j?.finishedOn ? (j.returnvalue as RetentionReport) : undefined;
      },
      60_000,
      'dry run',
    );
    const planId = dry.plan!.id;
    const env = {
      ...process.env,
      QUEUE_PREFIX: w.config.QUEUE_PREFIX,
      DATABASE_SCHEMA: w.config.DATABASE_SCHEMA,
      RETENTION_APPROVAL: 'manual',
    };
    const stowage = (...args: string[]) =>
      run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'plans', ...args], {
        env,
        timeout: 60_000,
      });

    const list = JSON.parse((await stowage('list', '--json')).stdout) as {
      plans: { id: string; status: string }[];
    };
    expect(list.plans).toEqual([expect.objectContaining({ id: planId, status: 'planned' })]);
    const shown = JSON.parse((await stowage('show', planId, '--json')).stdout) as PlanDetail;
    expect(shown.plan.digest).toBe(dry.plan!.digest);
    expect(shown.items.map((i) => i.unit).sort()).toEqual([
      'domain|cli-a.example.com',
      'domain|cli-b.example.com',
    ]);

    await expect(stowage('approve', planId, '--digest', 'e'.repeat(64))).rejects.toMatchObject({
      code: 1,
    });
    expect(await w.deps.hotStore.count()).toBe(2);

    const approved = JSON.parse(
      (await stowage('approve', planId, '--digest', shown.plan.digest, '--by', 'ops', '--json'))
        .stdout,
    ) as { plan: { status: string; approved_by: string }; job: { id: string } };
    expect(approved.plan).toMatchObject({ status: 'approved', approved_by: 'cli:ops' });
    await eventually(
      async () => ((await w.deps.hotStore.count()) === 0 ? true : undefined),
      60_000,
      'the approved plan executed',
    );
    const after = await eventually(
      async () => {
        const plan = await w.deps.maintenancePlans.get(planId);
        return plan?.status === 'executed' ? plan : undefined;
      },
      60_000,
      'the plan executed',
    );
    expect(after).toMatchObject({ approved_by: 'cli:ops', executions: 1 });
  }, 180_000);
});
