import { connectProducer } from 'stowage/producer';

// The workers' REDIS_URL, QUEUE_PREFIX and DATABASE_URL (IOC batches wait in its batch
// store; the jobs carry their digest): no HTTP hop, the same validation.
const { producer, close } = await connectProducer({
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  queuePrefix: process.env.QUEUE_PREFIX ?? 'stowage',
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://stowage@127.0.0.1:5432/stowage',
});

const ioc = {
  type: 'ipv4',
  value: '203.0.113.7',
  threat_type: 'scanner',
  confidence: 0.8,
  source: 'mde_logs',
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: new Date(),
} as const;

try {
  // Typed by job name, validated before it is enqueued; the same key is the same job.
  const job = await producer.enqueue('iocs.insert', { iocs: [ioc] }, { idempotencyKey: 'batch-7' });
  // A flow: the parent (the watermark) runs only after every child succeeded.
  const flow = await producer.enqueueFlow({
    parent: {
      name: 'watermark.commit',
      payload: { source_id: 'mde_logs', timestamp: ioc.last_seen, status: 'success' },
    },
    children: [{ name: 'iocs.insert', payload: { iocs: [{ ...ioc, confidence: 0.9 }] } }],
  });
  console.log(`enqueued ${job.id} and flow ${flow.id}`);
} finally {
  await close();
}
