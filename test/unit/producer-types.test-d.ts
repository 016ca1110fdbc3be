import { describe, expectTypeOf, it } from 'vitest';
import type { Producer } from '../../queues/producer.js';
import type { TEST_JOBS } from '../fixtures/test-jobs.js';

declare const producer: Producer<typeof TEST_JOBS>;

describe('typed enqueue', () => {
  it('accepts the payload of the named type', () => {
    type EchoInput = Parameters<typeof producer.enqueue<'test.echo'>>[1];
    expectTypeOf<EchoInput>().toEqualTypeOf<{ value: string; times?: number | undefined }>();
  });

  it('refuses a wrong payload or an unknown type at compile time', () => {
    // @ts-expect-error value must be a string
    void producer.enqueue('test.echo', { value: 1 });
    // @ts-expect-error the payload of test.fail has no "value"
    void producer.enqueue('test.fail', { value: 'x' });
    // @ts-expect-error no such job type
    void producer.enqueue('test.nothing', {});
  });
});
