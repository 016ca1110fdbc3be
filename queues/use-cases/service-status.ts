import type { ServiceStatus } from '../../src/domain/api/status.js';
import { QUEUE_STATES, type CountableQueue } from '../../src/metrics.js';
import { checkReadiness, type BackendCheck } from './check-readiness.js';

/** Longest a queue's counts are waited for before the status reports them as null. */
const QUEUE_READ_DEADLINE_MS = 2_000;

/**
 * The service's status (seed 001's `GET /status`): healthy when every backend answers,
 * degraded otherwise (the answer is still given: a status page reports, /ready gates), with
 * each backend and each queue's job counts.
 */
export async function serviceStatus(deps: {
  checkBackends: () => Promise<BackendCheck[]>;
  queues: () => readonly CountableQueue[];
  uptimeSeconds: number;
}): Promise<ServiceStatus> {
  const started = performance.now();
  const [readiness, queues] = await Promise.all([
    checkReadiness(deps),
    Promise.all(deps.queues().map(async (q) => [q.name, await countsOf(q)] as const)),
  ]);
  return {
    status: readiness.ready ? 'healthy' : 'degraded',
    service: 'stowage',
    timestamp: new Date().toISOString(),
    uptime_seconds: Math.round(deps.uptimeSeconds),
    backends: readiness.backends,
    queues: Object.fromEntries(queues),
    response_ms: Math.round(performance.now() - started),
  };
}

async function countsOf(queue: CountableQueue): Promise<ServiceStatus['queues'][string]> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), QUEUE_READ_DEADLINE_MS);
  });
  try {
    const counts = await Promise.race([queue.getJobCounts(...QUEUE_STATES), expired]);
    if (counts === undefined) return null;
    return Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) as NonNullable<
      ServiceStatus['queues'][string]
    >;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}
