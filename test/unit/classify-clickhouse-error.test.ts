// What a ClickHouse failure means for a retry and for the HTTP answer.
import { describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors/index.js';
import { statusOf } from '../../src/errors/error-codes.js';
import { classifyClickHouseError } from '../../src/stores/clickhouse/classify-clickhouse-error.js';

/** A server error as @clickhouse/client raises it. */
function serverError(code: number, text: string): Error {
  return Object.assign(new Error(`${text}\n(query tail)`), { code: String(code) });
}

describe('classifyClickHouseError', () => {
  it('a refused connection is transient backend_unavailable', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:18123'), {
      code: 'ECONNREFUSED',
    });
    const classified = classifyClickHouseError(err);
    expect(classified).toBeInstanceOf(TransientError);
    expect(classified).toMatchObject({ code: 'backend_unavailable', cause: err });
  });

  it('a syntax error is permanent backend_rejected, its first line kept', () => {
    const classified = classifyClickHouseError(
      serverError(62, 'Syntax error: failed at position 1'),
    );
    expect(classified).toBeInstanceOf(PermanentError);
    expect(classified.code).toBe('backend_rejected');
    expect(classified.message).not.toMatch(/query tail/);
    expect(classified.context).toMatchObject({ backend: 'clickhouse', clickhouseCode: 62 });
  });

  it.each([60, 81])(
    'an unknown table or database (%i) is the server not initialised: 5xx schema_not_ready',
    (code) => {
      const classified = classifyClickHouseError(serverError(code, 'Table x does not exist'));
      expect(classified).toBeInstanceOf(PermanentError);
      expect(classified.code).toBe('schema_not_ready');
      expect(statusOf(classified.code)).toBe(500);
      expect(classified.message).toMatch(/stowage init/);
    },
  );

  it('too many parts is transient backend_busy; an unknown code is transient', () => {
    expect(classifyClickHouseError(serverError(252, 'Too many parts')).code).toBe('backend_busy');
    const unknown = classifyClickHouseError(serverError(999, 'Something new'));
    expect(unknown).toBeInstanceOf(TransientError);
    expect(unknown.code).toBe('backend_error');
  });

  it('reads the code from an old server wording in the message', () => {
    const err = new Error('Code: 60, e.displayText() = DB::Exception: Table t does not exist');
    expect(classifyClickHouseError(err).code).toBe('schema_not_ready');
  });
});
