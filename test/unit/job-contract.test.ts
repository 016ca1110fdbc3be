import { describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/config.js';
import { JOB_DEFINITIONS, JOB_TYPES } from '../../jobs/registry.js';
import { defineJob } from '../../jobs/job-definition.js';
import { JobRegistry } from '../../jobs/job-registry.js';
import type { AnyJobDefinition } from '../../jobs/job-definition.js';
import { resolveSchedules } from '../../jobs/job-schedules.js';
import { z } from 'zod';
import { tickJob } from '../fixtures/scheduled-job.js';
import { TEST_JOBS, testHandlers } from '../fixtures/test-jobs.js';

/** Whether a job type's payload takes `dry_run` (a schema without it refuses or strips the key). */
function takesDryRun(definition: AnyJobDefinition): boolean {
  const parsed = definition.payload.safeParse({ ...(definition.fixture as object), dry_run: true });
  return parsed.success && (parsed.data as { dry_run?: unknown }).dry_run === true;
}

const EVERY_DEFINITION: readonly AnyJobDefinition[] = [...JOB_DEFINITIONS, ...TEST_JOBS, tickJob];

/** Every registry — the production one and the framework's test one — keeps the contract. */
const registries = [
  {
    label: 'production',
    defs: JOB_DEFINITIONS as readonly { name: string }[],
    handlers: Object.fromEntries(JOB_TYPES.map((t) => [t.definition.name, t.createHandler])),
  },
  { label: 'test', defs: TEST_JOBS, handlers: testHandlers(null as never, 'unused') },
];

describe.each(registries)('job contract ($label registry)', ({ defs, handlers }) => {
  it('every job has a queue, a handler and a fixture payload that parses', () => {
    for (const def of defs as unknown as (typeof TEST_JOBS)[number][]) {
      expect(QUEUE_NAMES).toContain(def.queue);
      expect(Object.keys(handlers)).toContain(def.name);
      expect(def.payload.safeParse(def.fixture).success, `${def.name} fixture`).toBe(true);
      expect(def.description.length).toBeGreaterThan(10);
    }
    expect(Object.keys(handlers).sort()).toEqual(defs.map((d) => d.name).sort());
  });
});

describe('operator actions and schedules declared by definitions', () => {
  it.each(EVERY_DEFINITION.map((d) => [d.name, d] as const))(
    '%s declares a dry run exactly when its payload takes dry_run',
    (_name, definition) => {
      expect(definition.operator?.dryRun ?? false).toBe(takesDryRun(definition));
    },
  );

  it('every schedule default is a cron expression or off, each key declared once', () => {
    expect(() => resolveSchedules({}, EVERY_DEFINITION)).not.toThrow();
  });
});

describe('defineJob and JobRegistry', () => {
  it('refuses names that are not noun.verb in lower case', () => {
    const base = {
      queue: 'ingest',
      description: 'x',
      scope: 'ingest',
      payload: z.object({}),
      fixture: {},
    } as const;
    expect(() => defineJob({ ...base, name: 'Insert' })).toThrow(/noun\.verb/);
    expect(() => defineJob({ ...base, name: 'iocs.insert' })).not.toThrow();
  });

  it('refuses a type registered twice', () => {
    expect(() => new JobRegistry([...TEST_JOBS, TEST_JOBS[0]])).toThrow(/twice/);
  });

  it('lists types by queue', () => {
    const registry = new JobRegistry(TEST_JOBS);
    expect(registry.forQueue('ingest').map((d) => d.name)).toEqual([
      'test.echo',
      'test.fail',
      'test.gate',
    ]);
    expect(registry.queues().sort()).toEqual(['artifacts', 'ingest', 'maintenance']);
  });
});
