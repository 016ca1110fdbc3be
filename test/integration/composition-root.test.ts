import { afterEach, describe, expect, it } from 'vitest';
import { createRoot, type RootCore } from '../../src/composition/root.js';
import { createLogger } from '../../src/log.js';
import { eventually, testConfig } from '../helpers/world.js';

describe('the composition root', () => {
  const opened: RootCore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((r) => r.close()));
  });
  const open = <T extends RootCore>(root: T): T => {
    opened.push(root);
    return root;
  };
  const config = testConfig();
  const log = createLogger(config);

  it('an ingest-only worker builds no S3 store, and the cache it needs', () => {
    const root = open(createRoot(config, log, { role: 'worker', queues: ['ingest'] }));
    expect(root.resources.artifacts).toBeUndefined();
    expect(root.resources.wormArchive).toBeUndefined();
    expect(root.resources.iocCache).toBeDefined();
    expect(root.resources.spoolFileReferenced).toBeUndefined();
    expect(root.queues.all().map((q) => q.name)).toEqual(['ingest']);
  });

  it('a maintenance worker gets the S3 stores and the spool-file lookup, and no cache', () => {
    const root = open(createRoot(config, log, { role: 'worker', queues: ['maintenance'] }));
    expect(root.resources.artifacts).toBeDefined();
    expect(root.resources.sampleRetention).toBeDefined();
    expect(root.resources.spoolFileReferenced).toBeDefined();
    expect(root.resources.iocCache).toBeUndefined();
  });

  it('the scheduler and the dashboard get the queue Redis and their queue layer only', () => {
    const scheduler = open(createRoot(config, log, { role: 'scheduler' }));
    expect(scheduler.producer).toBeDefined();
    expect(scheduler).not.toHaveProperty('pg');
    const dashboard = open(createRoot(config, log, { role: 'dashboard' }));
    expect(dashboard.queues.all()).toHaveLength(5);
    expect(dashboard).not.toHaveProperty('producer');
    expect(dashboard).not.toHaveProperty('s3');
  });

  it('close() closes every client it built', async () => {
    const root = createRoot(config, log, { role: 'api' });
    await root.queues.ready();
    await root.close();
    for (const redis of [root.redis, root.cacheRedis]) {
      await eventually(
        () => Promise.resolve(redis.status === 'end' ? true : undefined),
        5_000,
        'end',
      );
    }
    expect(root.pg.ending).toBe(true);
  });
});
