import { describe, expect, it } from 'vitest';
import { parsePlanArgs } from '../../src/cli/plan-args.js';
import { UsageError } from '../../src/cli/usage-error.js';

const DIGEST = 'a'.repeat(64);

describe('stowage plans arguments', () => {
  it('parses list, show and approve', () => {
    expect(parsePlanArgs(['list', '--status', 'planned', '--limit', '5'])).toEqual({
      command: 'plans-list',
      status: 'planned',
      cursor: undefined,
      limit: 5,
      json: false,
    });
    expect(parsePlanArgs(['show', '12', '--cursor', '40', '--json'])).toEqual({
      command: 'plans-show',
      id: '12',
      cursor: 40,
      limit: 20,
      json: true,
    });
    expect(parsePlanArgs(['approve', '12', '--digest', DIGEST, '--by', 'ops'])).toEqual({
      command: 'plans-approve',
      id: '12',
      digest: DIGEST,
      by: 'ops',
      json: false,
    });
  });

  it('refuses an approval without the digest, a bad id, a bad status and options that do not apply', () => {
    const refused = (args: string[], message: RegExp) =>
      expect(() => parsePlanArgs(args)).toThrow(
        expect.objectContaining({ message: expect.stringMatching(message) }) as UsageError,
      );
    refused(['approve', '12'], /--digest is required/);
    refused(['approve', '12', '--digest', 'abc'], /--digest is required/);
    refused(['show', 'x1'], /not a plan id/);
    refused(['show'], /missing <plan-id>/);
    refused(['list', '--status', 'done'], /--status must be one of/);
    refused(['list', '--digest', DIGEST], /--digest does not apply/);
    refused(['list', '--limit', '0'], /--limit/);
    refused(['purge'], /unknown subcommand/);
  });
});
