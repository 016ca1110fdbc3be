import { describe, expect, it } from 'vitest';
import { artifactTargetSchema, filenameProblem } from '../../src/domain/artifact.js';

const version = (v: unknown) =>
  artifactTargetSchema.safeParse({
    kind: 'ta-bundle',
    request_id: 'r',
    revision_id: 'x',
    version: v,
  });

describe('filenames that read as another name', () => {
  it.each([
    ['invoice\u202Efdp.exe', /bidirectional/],
    ['a\u202Ab', /bidirectional/],
    ['a\u2066b\u2069', /bidirectional/],
    ['ev\u200Bil.txt', /zero-width/],
    ['a\u200Db', /zero-width/],
    ['a\u200Fb', /zero-width/],
    ['a\u2060b', /zero-width/],
    ['\uFEFFbom.txt', /zero-width/],
    ['soft\u00ADhyphen', /format characters/],
    ['tag\u{E0041}', /format characters/],
  ])('%j is refused', (name, reason) => {
    expect(filenameProblem(name)).toMatch(reason);
  });

  it('plain and accented names are fine', () => {
    for (const name of ['report.pdf', 'résumé (1).txt', 'данные.csv', '数据.bin', 'emoji-💾.zip'])
      expect(filenameProblem(name), name).toBeUndefined();
  });
});

describe('TA bundle versions', () => {
  it.each(['1e3', '0x10', ' 5 ', '05', '+5', '-1', '5.0', '', '1_000', '1000001'])(
    '%j is refused, naming version',
    (v) => {
      const parsed = version(v);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path).toEqual(['version']);
    },
  );

  it('canonical decimal text and JSON integers are accepted', () => {
    expect(version('5').data).toMatchObject({ version: 5 });
    expect(version('1000000').data).toMatchObject({ version: 1_000_000 });
    expect(version(12).data).toMatchObject({ version: 12 });
    expect(version(0).success).toBe(false);
    expect(version(1.5).success).toBe(false);
  });
});
