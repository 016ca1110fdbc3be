import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../src/config.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every configuration key in its table', () => {
    const missing = CONFIG_KEYS.filter(
      (key) => !new RegExp(`^\\| \`${key}\` +\\|`, 'm').test(readme),
    );
    expect(missing, 'regenerate with: npx tsx scripts/config-table.ts').toEqual([]);
  });

  it('gives the two commands, and .ci/run runs the same test command', () => {
    expect(readme).toContain('npm install && npm run up');
    expect(readme).toContain('npm test');
    expect(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')).toMatch(/^npm test$/m);
  });
});
