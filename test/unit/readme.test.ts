import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../src/config.js';
import { scheduleVariableDocs } from '../../jobs/job-schedules.js';
import { JOB_DEFINITIONS } from '../../jobs/registry.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every configuration key in its table', () => {
    const missing = CONFIG_KEYS.filter(
      (key) => !new RegExp(`^\\| \`${key}\` +\\|`, 'm').test(readme),
    );
    expect(missing, 'regenerate with: npx tsx scripts/config-table.ts').toEqual([]);
  });

  it('lists only SCHEDULE_ variables a job definition declares, with its default and meaning', () => {
    const docs = new Map(scheduleVariableDocs(JOB_DEFINITIONS).map((d) => [d.variable, d]));
    const rows = [
      ...readme.matchAll(/^\| `(SCHEDULE_[A-Z0-9_]+)` +\| `([^`]*)` +\| ([^|]*?) *\|$/gm),
    ];
    expect(rows.length, 'the table lists the schedule variables').toBeGreaterThan(0);
    const wrong = rows
      .filter(([, variable, def, meaning]) => {
        const doc = docs.get(variable ?? '');
        return doc === undefined || doc.default !== def || doc.description !== meaning;
      })
      .map(([, variable]) => variable);
    expect(wrong, 'regenerate with: npx tsx scripts/config-table.ts').toEqual([]);
  });

  it('gives the two commands, and .ci/run runs the same test command', () => {
    expect(readme).toContain('npm install && npm run up');
    expect(readme).toContain('npm test');
    expect(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')).toMatch(/^npm test$/m);
  });
});
