import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const EXAMPLE =
  /<!-- example: (docs\/examples\/[\w.-]+\.ts) -->\n\n```ts\n([\s\S]*?)```\n\n<!-- \/example -->/g;
const blocks = [...readme.matchAll(EXAMPLE)].map(([, file, code]) => ({
  file: file!,
  code: code!,
}));

describe('README examples', () => {
  it('includes every file of docs/examples once', () => {
    const files = readdirSync(new URL('docs/examples/', root))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `docs/examples/${f}`)
      .sort();
    expect(blocks.map((b) => b.file).sort()).toEqual(files);
  });

  it.each(blocks)('the block of $file is the file, verbatim', ({ file, code }) => {
    expect(code, `copy ${file} into its README block`).toBe(
      readFileSync(new URL(file, root), 'utf8'),
    );
  });

  it('has no example marker the pattern above missed', () => {
    expect(readme.match(/<!-- example: /g)).toHaveLength(blocks.length);
  });
});
