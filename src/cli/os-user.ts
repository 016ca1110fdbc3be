import { userInfo } from 'node:os';

/** The OS user running the CLI: who an operator command records as the actor. */
export function osUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    // A container user without a passwd entry has no name.
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}
