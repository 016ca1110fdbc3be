/** The exit codes of every `stowage` command, for scripts. */
export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** It ran but did not succeed: a job failed, a job or watermark was not found, a change was refused, a backend was away. */
  failure: 1,
  /** The command line or its input is wrong (unknown option, bad JSON, invalid payload field). */
  usage: 2,
  /** A process refused to start: its schema is missing or older (run `stowage init`), or a production setting is unsafe. */
  refused: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
