import { describe, expect, it } from 'vitest';
import { findDuplicateKey } from '../../src/api/duplicate-keys.js';

const find = (text: string) => findDuplicateKey(Buffer.from(text, 'utf8'));

describe('findDuplicateKey', () => {
  it('names a key given twice, at the top and nested, with its path', () => {
    expect(find('{"dry_run":true,"dry_run":false}')).toEqual({ key: 'dry_run', path: 'dry_run' });
    expect(find('{"a":[{"x":1},{"x":2,"y":{"q":1,"q":2}}]}')).toEqual({
      key: 'q',
      path: 'a[1].y.q',
    });
    expect(find('[1,{"b":[[{"c":1,"c":2}]]}]')).toEqual({ key: 'c', path: '[1].b[0][0].c' });
  });

  it('sees through escapes: "dry\\u005frun" is dry_run, and non-ASCII keys compare as text', () => {
    expect(find('{"dry_run":true,"dry\\u005frun":false}')).toMatchObject({ key: 'dry_run' });
    expect(find('{"é":1,"\\u00e9":2}')).toMatchObject({ key: 'é' });
  });

  it('finds none in valid JSON with equal keys in different objects, or keys inside strings', () => {
    expect(find('{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}')).toBeUndefined();
    expect(find('{"a":"{\\"a\\":1,\\"a\\":2}","b":"\\\\"}')).toBeUndefined();
    expect(find('"just a string"')).toBeUndefined();
    expect(find('[' + '{"k":1},'.repeat(1000) + '{"k":1}]')).toBeUndefined();
  });

  it('handles objects with many keys (a Set past 16) and leaves malformed JSON to the parser', () => {
    const many = Array.from({ length: 1000 }, (_, i) => `"k${i}":1`).join(',');
    expect(find(`{${many}}`)).toBeUndefined();
    expect(find(`{${many},"k999":2}`)).toEqual({ key: 'k999', path: 'k999' });
    expect(find('{"a":1,"b')).toBeUndefined();
    expect(find(']]]}}}{')).toBeUndefined();
  });

  it('scans deep nesting without an object a level', () => {
    const depth = 200_000;
    expect(find('['.repeat(depth) + ']'.repeat(depth))).toBeUndefined();
    expect(find('{"a":'.repeat(5_000) + '{"z":1,"z":2}' + '}'.repeat(5_000))).toMatchObject({
      key: 'z',
    });
  });
});
