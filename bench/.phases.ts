import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { postJson } from '/work/main/bench/lib/load.js';
import { StowageProcess, benchStack } from '/work/main/bench/lib/stack.js';

const N = Number(process.argv[2] ?? 100000);
const store = (process.argv[3] ?? 'postgres') as 'postgres' | 'clickhouse';
function batch(start: number, n: number, tag: string) {
  const now = Date.now();
  return Array.from({ length: n }, (_, k) => {
    const i = start + k;
    return { type: 'domain', value: `host-${i}.${tag}.example.com`, threat_type: i % 3 === 0 ? 'c2' : 'phishing',
      confidence: i % 3 === 0 ? 0.9 : 0.5, source: 'bench', first_seen: new Date(now - 5 * 3600000).toISOString(),
      last_seen: new Date(now - 3600000).toISOString(), tags: [`t${i % 4}`] };
  });
}
const stack = benchStack({ HOT_STORE: store });
const { proc: api, base } = await StowageProcess.api(stack);
const redis = new Redis(stack.env.REDIS_URL!);
const q = new Queue('ingest', { connection: redis, prefix: stack.env.QUEUE_PREFIX! });
const pool = new pg.Pool({ connectionString: stack.env.DATABASE_URL, max: 1 });
await q.pause();
const tag = `p-${stack.suffix}`;
let next = 0; const reqs = N / 1000;
const t0 = performance.now();
await Promise.all(Array.from({ length: 4 }, async () => { for (let i = next++; i < reqs; i = next++)
  await postJson(`${base}/v1/ingest/iocs`, stack.key, { source_id: 'bench', iocs: batch(i * 1000, 1000, tag) }); }));
const t1 = performance.now();
console.log(`api intake: ${Math.round(N / ((t1 - t0) / 1000))} IOCs/s`);
const w = await StowageProcess.worker(stack, ['ingest']);
const t2 = performance.now();
await q.resume();
const count = async () => store === 'postgres'
  ? Number((await pool.query(`SELECT count(*) AS n FROM "${stack.env.DATABASE_SCHEMA!}".iocs`)).rows[0].n)
  : (await q.getCompletedCount()) * 1000;
while ((await count()) < N) await new Promise((r) => setTimeout(r, 50));
const t3 = performance.now();
console.log(`worker drain: ${Math.round(N / ((t3 - t2) / 1000))} IOCs/s`);
await Promise.all([api.stop(), w.stop()]);
await q.obliterate({ force: true }); await q.close(); await redis.quit(); await pool.end();
