import { DatabaseError } from 'pg';
import { describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors/index.js';
import { statusOf } from '../../src/errors/error-codes.js';
import { classifyPostgresError } from '../../src/stores/postgres/classify-postgres-error.js';

/** A server error as pg's parser builds it (severity FATAL for a terminated connection). */
function serverError(code: string, message: string): DatabaseError {
  const err = new DatabaseError(message, message.length, 'error');
  err.code = code;
  err.severity = 'FATAL';
  return err;
}

/** What pg rejects an in-flight query with when PostgreSQL goes away or restarts. */
const outageErrors: [string, Error][] = [
  [
    '57P01 admin shutdown',
    serverError('57P01', 'terminating connection due to administrator command'),
  ],
  [
    '57P02 crash shutdown',
    serverError('57P02', 'terminating connection due to crash of another server process'),
  ],
  ['57P03 cannot connect now', serverError('57P03', 'the database system is starting up')],
  ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
  [
    'ECONNREFUSED',
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:15432'), { code: 'ECONNREFUSED' }),
  ],
  ['a terminated connection', new Error('Connection terminated unexpectedly')],
  ['a connect timeout', new Error('Connection terminated due to connection timeout')],
  ['a dead client', new Error('Client has encountered a connection error and is not queryable')],
];

describe('classifyPostgresError', () => {
  it.each(outageErrors)('%s is transient backend_unavailable', (_, err) => {
    const classified = classifyPostgresError(err);
    expect(classified).toBeInstanceOf(TransientError);
    expect(classified).toMatchObject({ code: 'backend_unavailable', cause: err });
    expect(classified.context).toMatchObject({ backend: 'postgres' });
  });

  it('a statement the server rejects stays permanent', () => {
    const classified = classifyPostgresError(serverError('22P02', 'invalid input syntax'));
    expect(classified).toBeInstanceOf(PermanentError);
    expect(classified.code).toBe('backend_rejected');
  });

  it.each(['42P01', '3F000'])(
    'a missing table or schema (%s) is the server not initialised: 5xx schema_not_ready',
    (sqlState) => {
      const classified = classifyPostgresError(serverError(sqlState, 'does not exist'));
      expect(classified).toBeInstanceOf(PermanentError);
      expect(classified.code).toBe('schema_not_ready');
      expect(statusOf(classified.code)).toBe(500);
      expect(classified.message).toMatch(/stowage init/);
    },
  );
});
