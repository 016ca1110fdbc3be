import { once } from 'node:events';
import type { CliIo } from './operator-context.js';

/**
 * Writes chunks to stdout as they come, waiting for `drain` when the pipe is full, so a
 * large export or download never piles up in memory ahead of a slow reader.
 */
export async function writeChunks(
  stdout: CliIo['stdout'],
  chunks: AsyncIterable<string | Uint8Array>,
): Promise<void> {
  for await (const chunk of chunks) {
    const accepted = stdout.write(chunk);
    if (accepted === false && isEmitter(stdout)) await once(stdout, 'drain');
  }
}

function isEmitter(sink: unknown): sink is NodeJS.EventEmitter {
  return typeof (sink as { once?: unknown }).once === 'function';
}
