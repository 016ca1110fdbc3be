import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const run = promisify(execFile);

describe('running maintenance now', () => {
  let world: StowageWorld;
  let base: string;
  beforeAll(async () => {
    world = new StowageWorld({ ARCHIVE_ENABLED: 'false' });
    await world.initStores();
    base = await world.startApi();
    await world.startWorker(['maintenance', 'cache']);
  });
  afterAll(async () => {
    await world.close();
  });

  const post = (job: string, body: unknown, key: string = TEST_KEYS.admin) =>
    fetch(`${base}/v1/maintenance/${job}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('POST /v1/maintenance/retention.cleanup with dry_run runs the job and reports without deleting', async () => {
    const res = await post('retention.cleanup', { dry_run: true });
    expect(res.status).toBe(202);
    const { id, queue } = (await res.json()) as { id: string; queue: 'maintenance' };
    const job = await eventually(async () => {
      const j = await Job.fromId(world.queues.get(queue), id);
      return j?.finishedOn ? j : undefined;
    }, 30_000);
    expect(job.failedReason).toBeFalsy();
    expect(job.returnvalue).toMatchObject({ dry_run: true, targets: { hot: { rows: 0 } } });
  });

  it('dry_run on a job without one is a 400 naming dry_run; unknown jobs 404; non-admin keys 403', async () => {
    const noDry = await post('cache.promote', { dry_run: true });
    expect(noDry.status).toBe(400);
    expect(((await noDry.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe(
      'dry_run',
    );
    const unknown = await post('iocs.insert', {});
    expect(unknown.status).toBe(404);
    expect((await post('retention.cleanup', {}, TEST_KEYS.ingest)).status).toBe(403);
    expect((await post('retention.cleanup', {}, TEST_KEYS.read)).status).toBe(403);
  });

  it('stowage run follows the job, prints its report and writes it as JSON', async () => {
    const report = join(mkdtempSync(join(tmpdir(), 'stowage-report-')), 'abort.json');
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        'run',
        'uploads.abort-stale',
        '--dry-run',
        '--report',
        report,
      ],
      {
        env: {
          ...process.env,
          QUEUE_PREFIX: world.config.QUEUE_PREFIX,
          DATABASE_SCHEMA: world.config.DATABASE_SCHEMA,
          ARTIFACT_BUCKET_SAMPLES: world.config.ARTIFACT_BUCKET_SAMPLES,
        },
        timeout: 60_000,
      },
    );
    const written = JSON.parse(readFileSync(report, 'utf8')) as { dry_run: boolean };
    expect(written.dry_run).toBe(true);
    expect(JSON.parse(stdout)).toEqual(written);
  });

  it('stowage run refuses a dry run of a job without one, with exit code 2', async () => {
    const attempt = run(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'run', 'cache.promote', '--dry-run'],
      {
        env: { ...process.env, QUEUE_PREFIX: world.config.QUEUE_PREFIX },
      },
    );
    await expect(attempt).rejects.toMatchObject({ code: 2 });
  });
});
