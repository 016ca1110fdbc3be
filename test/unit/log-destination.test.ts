// A process's log lines are buffered, yet reach stdout promptly and are never left behind
// when the process exits.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LOG_FLUSH_MS } from '../../src/log.js';
import { REPO_ROOT } from '../helpers/cli-process.js';

/** Runs a script with a stdout logger; resolves each line with when it arrived, and the exit code. */
function run(body: string): Promise<{ lines: { msg: string; at: number }[]; code: number | null }> {
  const script = `
    import { createLogger } from './src/log.ts';
    const log = createLogger({ LOG_LEVEL: 'info', LOG_PRETTY: false }, { process: 'test' });
    ${body}
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: { msg: string; at: number }[] = [];
  let rest = '';
  child.stdout.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop()!;
    for (const p of parts)
      lines.push({ msg: (JSON.parse(p) as { msg: string }).msg, at: Date.now() });
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ lines, code })));
}

describe('log destination', () => {
  it('writes a lone line within the flush period, while the process keeps running', async () => {
    // One line, then 2 s of nothing: the buffer never fills, the periodic flush writes it.
    const { lines, code } = await run(`
      log.info('first');
      setTimeout(() => { log.info('last'); }, 2000);
    `);
    expect(code).toBe(0);
    expect(lines.map((l) => l.msg)).toEqual(['first', 'last']);
    // 'first' arrived long before the process wrote 'last' (2 s later) and exited.
    expect(lines[1]!.at - lines[0]!.at).toBeGreaterThan(2000 - LOG_FLUSH_MS - 500);
  });

  it('writes every buffered line, in order, when the process exits at once', async () => {
    // Enough lines for several buffer-sized writes before the exit flushes the rest: a write
    // still under way when the process exits must not land after the lines flushed at exit.
    const { lines, code } = await run(`
      for (let i = 0; i < 1000; i++) log.info({ i }, 'line ' + i);
      process.exit(3);
    `);
    expect(code).toBe(3);
    expect(lines.map((l) => l.msg)).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i}`));
  });
});
