// Reading a Prometheus text exposition in tests: one value per series, by name and labels.

/** A scraped exposition: the value of the one series with `name` and at least `labels`. */
export interface Scrape {
  text: string;
  /** The series' value; 0 when no series matches (a counter not yet incremented). */
  value(name: string, labels?: Record<string, string>): number;
  /** Whether a series with `name` and at least `labels` is there. */
  has(name: string, labels?: Record<string, string>): boolean;
}

/** Parses the text format (series lines only; # HELP and # TYPE skipped). */
export function parseScrape(text: string): Scrape {
  const series = text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a series line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
        labels[k!] = v!;
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
  const matching = (name: string, labels: Record<string, string>) =>
    series.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  return {
    text,
    value(name, labels = {}) {
      const found = matching(name, labels);
      if (found.length > 1)
        throw new Error(`${found.length} series ${name} match ${JSON.stringify(labels)}`);
      return found[0]?.value ?? 0;
    },
    has: (name, labels = {}) => matching(name, labels).length > 0,
  };
}

/** GETs `<base>/metrics` and parses it; fails on anything but a 200 in the text format. */
export async function scrape(base: string): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`${base}/metrics answered ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`${base}/metrics is ${type}`);
  return parseScrape(await res.text());
}
