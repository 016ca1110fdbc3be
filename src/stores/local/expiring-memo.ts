/**
 * A small in-process memo: at most `maxEntries` values, each for `ttlMs`, the least recently
 * used dropped first. For answers that are immutable or allowed to be a little old; never
 * shared between processes.
 */
export class ExpiringMemo<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();

  constructor(
    private readonly options: { maxEntries: number; ttlMs: number; now?: () => number },
  ) {}

  /** The value under key when it has not expired. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expires <= this.now()) return undefined;
    // Re-inserted: a Map iterates in insertion order, so the first key is the least recent.
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Keeps a value for ttlMs. */
  set(key: string, value: V): void {
    if (this.options.maxEntries <= 0 || this.options.ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.options.ttlMs });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Entries held (expired ones included until they are read or pushed out). */
  get size(): number {
    return this.entries.size;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}
