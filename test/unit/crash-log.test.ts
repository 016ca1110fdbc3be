// A crash is logged with its reason, and the process still dies: logCrashes only watches.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli-process.js';

/** Runs a script that installs logCrashes and then fails in the given way. */
function crash(failure: string): { status: number | null; fatal: Record<string, unknown> } {
  const script = `
    import { createLogger } from './src/log.ts';
    import { logCrashes } from './src/running-process.ts';
    import { EventEmitter } from 'node:events';
    logCrashes(createLogger({ LOG_LEVEL: 'info', LOG_PRETTY: false }, { process: 'test' }));
    ${failure}
  `;
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  const line = result.stdout.split('\n').find((l) => l.includes('"level":60'));
  return {
    status: result.status,
    fatal: line ? (JSON.parse(line) as Record<string, unknown>) : {},
  };
}

describe('logCrashes', () => {
  it("an 'error' event without a listener: one fatal line naming it, then exit 1", () => {
    const { status, fatal } = crash(
      // From a later tick, as a socket would: not from the module's own evaluation.
      `setImmediate(() => new EventEmitter().emit('error', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })));`,
    );
    expect(status).toBe(1);
    expect(fatal).toMatchObject({
      process: 'test',
      origin: 'uncaughtException',
      err: { message: 'terminating connection due to administrator command', code: '57P01' },
    });
  });

  it('an unhandled rejection: logged as such, then exit 1', () => {
    const { status, fatal } = crash(`void Promise.reject(new Error('nobody caught me'));`);
    expect(status).toBe(1);
    expect(fatal).toMatchObject({
      origin: 'unhandledRejection',
      err: { message: 'nobody caught me' },
    });
  });
});
