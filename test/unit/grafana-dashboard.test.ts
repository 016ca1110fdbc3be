import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { REPO_ROOT } from '../helpers/cli-process.js';

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(
  readFileSync(join(REPO_ROOT, 'deploy', 'grafana', 'stowage.json'), 'utf8'),
) as { uid: string; panels: Panel[]; templating: { list: { query?: unknown }[] } };

const panels = (list: Panel[]): Panel[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);

/** Metric names a PromQL expression reads (functions, labels and keywords left out). */
function metricNames(expr: string): string[] {
  const withoutLabels = expr.replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '');
  const words = withoutLabels.match(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(?:\)|$|\/|\s|,|\[|\{))/g) ?? [];
  return words.filter((w) => /^(stowage|process|nodejs)_/.test(w));
}

/** The family a series belongs to (a histogram's _bucket, _sum and _count are its own). */
function family(name: string, histograms: ReadonlySet<string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return histograms.has(base) ? base : name;
}

describe('Grafana dashboard (deploy/grafana/stowage.json)', () => {
  const metrics = createMetrics({ role: 'api' });
  const known = metrics.registry.getMetricsAsArray();
  const names = new Set(known.map((m) => m.name));
  const histograms = new Set(
    known.filter((m) => (m as { type?: unknown }).type === 'histogram').map((m) => m.name),
  );
  const exprs = panels(dashboard.panels).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })),
  );

  it('has panels for throughput, duration quantiles, queue depths, retries, bytes, rows and cache', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    for (const needed of [
      'stowage_jobs_total',
      'histogram_quantile(0.99',
      'histogram_quantile(0.95',
      'histogram_quantile(0.5',
      'stowage_queue_jobs',
      'stowage_job_retries_total',
      'stowage_bytes_uploaded_total',
      'stowage_rows_inserted_total',
      'stowage_rows_deleted_total',
      'stowage_cache_lookups_total',
    ]) {
      expect(all, needed).toContain(needed);
    }
  });

  it('queries only metrics the registry defines', () => {
    expect(exprs.length).toBeGreaterThan(0);
    for (const { title, expr } of exprs) {
      const used = metricNames(expr);
      expect(used.length, `${title}: ${expr}`).toBeGreaterThan(0);
      for (const name of used) {
        expect(names.has(family(name, histograms)), `${title}: ${name}`).toBe(true);
      }
    }
  });

  it('takes its queue variable from a metric the registry defines', () => {
    const queries = JSON.stringify(dashboard.templating.list.map((v) => v.query ?? null));
    for (const name of queries.match(/stowage_[a-z_]+/g) ?? [])
      expect(names.has(name), name).toBe(true);
  });
});
