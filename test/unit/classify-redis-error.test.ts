import { ReplyError as AnyReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../src/errors/index.js';
import {
  classifyRedisError,
  isRedisUnavailable,
} from '../../src/stores/redis/classify-redis-error.js';

// ioredis declares ReplyError as `any`; it is redis-errors' ReplyError, an Error.
const ReplyError = AnyReplyError as new (message: string) => Error;

/** ioredis's own rejections when Redis is away (messages copied from ioredis 5/6). */
const connectionErrors: Error[] = [
  Object.assign(new Error('Reached the max retries per request limit (which is 1).'), {
    name: 'MaxRetriesPerRequestError',
  }),
  Object.assign(new Error('Command aborted due to connection close'), { name: 'AbortError' }),
  new Error('Connection is closed.'),
  new Error("Stream isn't writeable and enableOfflineQueue options is false"),
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
  Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
  new ReplyError('LOADING Redis is loading the dataset in memory'),
  new ReplyError('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is no'),
];

describe('classifyRedisError', () => {
  it.each(connectionErrors.map((e) => [e.message, e]))(
    '%s is transient backend_unavailable, naming Redis',
    (_, err) => {
      expect(isRedisUnavailable(err)).toBe(true);
      const classified = classifyRedisError(err);
      expect(classified).toBeInstanceOf(TransientError);
      expect(classified).toMatchObject({
        code: 'backend_unavailable',
        context: { backend: 'redis' },
        cause: err,
      });
      expect((classified as Error).message).toMatch(/^Redis unavailable: /);
    },
  );

  it('leaves every other error as it is', () => {
    const others = [
      new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
      new ReplyError('ERR Error running script: Missing key for job 42'),
      new Error('boom'),
      'not an error',
      undefined,
    ];
    for (const err of others) {
      expect(isRedisUnavailable(err)).toBe(false);
      expect(classifyRedisError(err)).toBe(err);
    }
  });
});
