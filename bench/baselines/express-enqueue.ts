// The api-enqueue scenario's HTTP baseline: the least an express app needs to put a job on
// BullMQ — a JSON body parser, one route, `Queue.add` — as its own process, so the ratio
// against `stowage api` is what auth, validation, idempotency and problem handling cost,
// not HTTP itself. Of Stowage it uses only the queue's defaults and the job id function.
//
//   REDIS_URL=… QUEUE_PREFIX=… PORT=… node --import tsx bench/baselines/express-enqueue.ts
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { jobIdForKey } from '../../jobs/job-id.js';
import { QUEUE_DEFAULTS } from '../../queues/queue-defaults.js';

const redisUrl = process.env.REDIS_URL;
const prefix = process.env.QUEUE_PREFIX;
const port = Number(process.env.PORT);
if (!redisUrl || !prefix || !Number.isInteger(port)) {
  throw new Error('express-enqueue: REDIS_URL, QUEUE_PREFIX and PORT are required');
}

// As the api's Redis: fail fast rather than hang a request.
const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectionName: 'bench:express' });
redis.on('error', () => undefined);
const queue = new Queue('ingest', {
  connection: redis,
  prefix,
  defaultJobOptions: QUEUE_DEFAULTS.ingest.job,
});

const app = express();
app.use(express.json());
app.get('/health', (_req, res) => {
  res.json({ status: 'ok' });
});
app.post('/v1/jobs/watermark.commit', async (req, res) => {
  try {
    const body = req.body as Record<string, unknown>;
    // The same kind of id the api gives (a hash of the payload's natural key), unvalidated.
    const key = `${String(body.source_id)}:${String(body.timestamp)}:${String(body.status)}`;
    const jobId = jobIdForKey('watermark.commit', key);
    const job = await queue.add('watermark.commit', body, { jobId });
    res
      .status(202)
      .json({ id: job.id, type: 'watermark.commit', status_url: `/v1/jobs/${job.id}` });
  } catch (err) {
    res.status(500).json({ error: err instanceof Error ? err.message : String(err) });
  }
});

const server = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`express-enqueue listening on http://127.0.0.1:${port}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void queue
    .close()
    .then(() => redis.quit())
    .finally(() => process.exit(0));
});
