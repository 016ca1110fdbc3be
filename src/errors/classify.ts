import { StowageError } from './stowage-error.js';

/** True when retrying cannot help. Unknown errors count as transient. */
export function isPermanent(err: unknown): boolean {
  return err instanceof StowageError && err.kind === 'permanent';
}
