/** How a piece of work ended, without throwing. */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

const settle = <T>(work: Promise<T>): Promise<Settled<T>> =>
  work.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

/**
 * The abort signal of one attempt: fired by its deadline, by a cancel, or by the worker
 * shutting down, each with the error the attempt then ends with as the signal's reason.
 * `run` stops waiting for a handler that ignores the signal: the attempt's slot is freed
 * `graceMs` after the abort even if the handler's promise never settles.
 */
export class AttemptAbort {
  private readonly controller = new AbortController();
  private readonly cleanups: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly graceMs: number) {}

  /** Aborted when the attempt must stop; its reason is the error it ends with. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Aborts with `reason(source's reason)` when `source` aborts (at once if it has). */
  follow(source: AbortSignal | undefined, reason: (raw: unknown) => unknown): void {
    if (!source || this.signal.aborted) return;
    if (source.aborted) {
      this.abort(reason(source.reason));
      return;
    }
    const listener = () => this.abort(reason(source.reason));
    source.addEventListener('abort', listener, { once: true });
    this.cleanups.push(() => source.removeEventListener('abort', listener));
  }

  /** Aborts with `reason()` after `ms`. */
  deadline(ms: number, reason: () => unknown): void {
    this.timer = setTimeout(() => this.abort(reason()), ms);
  }

  /** Aborts now (the first reason wins). */
  abort(reason: unknown): void {
    if (!this.signal.aborted) this.controller.abort(reason);
  }

  /**
   * The work's value, or the abort reason when the signal fired first: the work then has
   * graceMs to wind down (abort its upload, roll back its transaction), after which it is
   * left behind. Work that completes despite the abort keeps its value: it did happen.
   */
  async run<T>(work: Promise<T>, onAbandoned?: () => void): Promise<T> {
    const settled = settle(work);
    const first = this.signal.aborted ? undefined : await Promise.race([settled, this.aborted()]);
    if (first !== undefined) {
      if (first.ok) return first.value;
      throw this.signal.aborted ? this.signal.reason : first.error;
    }
    let grace: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      settled,
      new Promise<undefined>((resolve) => {
        grace = setTimeout(() => resolve(undefined), this.graceMs);
      }),
    ]);
    clearTimeout(grace);
    if (late?.ok) return late.value;
    if (late === undefined) onAbandoned?.();
    throw this.signal.reason;
  }

  /** Stops the deadline and the listeners: the attempt is over. */
  dispose(): void {
    clearTimeout(this.timer);
    for (const cleanup of this.cleanups) cleanup();
    this.cleanups.length = 0;
  }

  /** Resolves undefined once the signal aborts. */
  private aborted(): Promise<undefined> {
    return new Promise((resolve) => {
      const listener = () => resolve(undefined);
      this.signal.addEventListener('abort', listener, { once: true });
      this.cleanups.push(() => this.signal.removeEventListener('abort', listener));
    });
  }
}
