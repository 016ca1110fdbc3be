// Vitest globalSetup for the integration project: real local servers for every test file.
import { serviceEnv, startServices } from './services.js';

/** Starts (or reuses) Redis, PostgreSQL, ClickHouse and S3 and exposes their URLs in process.env. */
export default async function setup(): Promise<void> {
  await startServices();
  // Test workers inherit this process's environment, so REDIS_URL, DATABASE_URL, S3_* and
  // the rest reach every test file and loadConfig(). Overwritten, not merged: a REDIS_URL
  // left in a developer's shell must not send tests to some other server. (To move the
  // servers, set the STOWAGE_*_PORT variables that scripts/services.sh reads.)
  Object.assign(process.env, serviceEnv());
  // Workers spawned by tests (several at once, next to a developer's own) take a free
  // metrics port each instead of WORKER_METRICS_PORT's fixed default.
  process.env.WORKER_METRICS_PORT = '0';
  // No teardown on purpose: the servers are reused by the next run (a warm start takes
  // well under a second), and CI machines are thrown away. `npm run services:stop`
  // stops them by hand.
}
