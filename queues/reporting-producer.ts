import type { AnyJobDefinition } from '../jobs/job-definition.js';
import type { EnqueuedJob, Producer } from './producer.js';

/** Told of every job a producer enqueued (children of a flow included). */
export type EnqueueReport = (jobs: readonly EnqueuedJob[]) => Promise<void>;

/**
 * The producer, telling `report` of each job it enqueued once the enqueue succeeded: the
 * api accounts a request's jobs to its tenant this way (quotas, usage) without the producer
 * knowing tenants. Shares queues and connections (the producer's prototype), as onBehalfOf.
 */
export function reportingEnqueues<Defs extends readonly AnyJobDefinition[]>(
  producer: Producer<Defs>,
  report: EnqueueReport,
): Producer<Defs> {
  const reporting = Object.create(producer) as Producer<Defs>;
  // enqueue and enqueueBulk call these through `this`, so each job is reported once.
  reporting.enqueueByName = async (...args) => {
    const job = await producer.enqueueByName.apply(reporting, args);
    await report([job]);
    return job;
  };
  reporting.enqueueBulkByName = async (...args) => {
    const jobs = await producer.enqueueBulkByName.apply(reporting, args);
    await report(jobs);
    return jobs;
  };
  reporting.enqueueFlow = async (...args) => {
    const flow = await producer.enqueueFlow.apply(reporting, args);
    const { children, ...parent } = flow;
    await report([parent, ...children]);
    return flow;
  };
  return reporting;
}
