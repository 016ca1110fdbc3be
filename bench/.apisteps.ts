import { loadConfig } from '/work/main/src/config.js';
import { createRoot } from '/work/main/src/composition/root.js';
import { createLogger } from '/work/main/src/log.js';
import { parseIngest, ingestKey, enqueueIngest } from '/work/main/queues/use-cases/ingest-iocs.js';
import { serviceEnv } from '/work/main/test/helpers/services.js';
const env = { ...serviceEnv(), QUEUE_PREFIX: 'steps' + Date.now(), DATABASE_SCHEMA: 'steps_' + Date.now() };
const config = loadConfig({ ...process.env, ...env } as Record<string, string>);
const init = createRoot(config, createLogger({ LOG_LEVEL: "error", LOG_PRETTY: false } as never), { role: 'init' });
await init.initStores(); await init.close();
const root = createRoot(config, createLogger({ LOG_LEVEL: "error", LOG_PRETTY: false } as never), { role: 'api' });
const now = Date.now();
const mk = (b: number) => ({ source_id: 'bench', iocs: Array.from({ length: 1000 }, (_, k) => { const i = b * 1000 + k; return { type: 'domain', value: `host-${i}.x.example.com`, threat_type: 'c2', confidence: 0.9, source: 'bench', first_seen: new Date(now - 5 * 3600000).toISOString(), last_seen: new Date(now - 3600000).toISOString(), tags: [`t${i % 4}`] }; }) });
const t = { parse: 0, key: 0, enqueue: 0 };
const limits = { maxIocs: 10000, chunkSize: 1000 };
for (let b = 0; b < 40; b++) {
  const body = JSON.parse(JSON.stringify(mk(b)));
  let s = performance.now();
  const batch = parseIngest(body, limits); t.parse += performance.now() - s; s = performance.now();
  const key = ingestKey(batch, undefined); t.key += performance.now() - s; s = performance.now();
  await enqueueIngest(root.producer, batch, { key, keyScope: 'x' }); t.enqueue += performance.now() - s;
}
console.log(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, (v / 40).toFixed(2) + ' ms'])));
await root.queues.get('ingest').obliterate({ force: true });
await root.close();
