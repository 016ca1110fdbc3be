// A closed-loop load generator: `concurrency` callers, each sending its next request as soon
// as the previous answered, for a fixed time; every latency is kept.

export interface LoadResult {
  /** Completed operations per second over the run. */
  rate: number;
  /** Latencies in ms, in completion order. */
  latencies: number[];
  errors: number;
  firstError?: string;
}

/** Runs op(i) from `concurrency` loops for `seconds`; i counts up across all loops. */
export async function closedLoop(
  op: (i: number) => Promise<void>,
  options: { concurrency: number; seconds: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const end = started + options.seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const i = next++;
      const t = performance.now();
      try {
        await op(i);
        latencies.push(performance.now() - t);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  return {
    rate: latencies.length / seconds,
    latencies,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

/** POSTs JSON and throws unless the answer is `expect`; the body is read and dropped. */
export async function postJson(
  url: string,
  key: string,
  body: unknown,
  expect = 202,
): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expect) throw new Error(`${url}: ${res.status} ${text.slice(0, 300)}`);
}
