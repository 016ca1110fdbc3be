import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics.js';
import { REPO_ROOT } from '../helpers/cli-process.js';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const file = parse(readFileSync(join(REPO_ROOT, 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as {
  groups: { name: string; rules: Rule[] }[];
};
const rules = file.groups.flatMap((g) => g.rules);

/** The metric names a PromQL expression reads (label matchers and ranges left out). */
function metricNames(expr: string): string[] {
  const bare = expr.replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '');
  return (bare.match(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b/g) ?? []).filter((w) =>
    /^(stowage|process|nodejs)_/.test(w),
  );
}

describe('Prometheus alert rules (deploy/prometheus/alerts.yml)', () => {
  const exported = new Set(
    createMetrics({ role: 'api' })
      .registry.getMetricsAsArray()
      .map((m) => m.name),
  );

  it('every rule reads only metrics Stowage exports, and at least one', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      const names = metricNames(rule.expr);
      expect(names, rule.alert).not.toEqual([]);
      for (const name of names) expect(exported, `${rule.alert}: ${name}`).toContain(name);
    }
  });

  it('alerts when dead letters grew over 15 minutes, and when they pile up past a high-water mark', () => {
    const growth = rules.find((r) => /\[15m\]/.test(r.expr) && /\)\s*>\s*0\s*$/.test(r.expr));
    expect(growth?.expr).toContain('stowage_dead_letters');
    const high = rules.find((r) => r !== growth && r.expr.includes('stowage_dead_letters'));
    expect(high?.expr).toMatch(/>\s*\d{2,}\s*$/);
  });

  it('names each rule once, with a severity and a summary', () => {
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
    }
  });
});
