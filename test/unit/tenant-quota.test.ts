import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import {
  parseByteSize,
  parseMemoryCeiling,
  parseTenantQuotas,
  quotaOf,
  tenantLabeller,
} from '../../src/domain/tenant-quota.js';

describe('TENANT_QUOTAS', () => {
  it('parses named tenants and the * fallback, sizes in any unit', () => {
    const { quotas, problems } = parseTenantQuotas(
      'acme=rps:50,bytes_day:10gb,queued:5000; beta=rps:5,burst:20 ;*=rps:200',
    );
    expect(problems).toEqual([]);
    expect(quotas.tenants).toEqual({
      acme: { rps: 50, bytesPerDay: 10 * 1024 ** 3, queued: 5000 },
      beta: { rps: 5, burst: 20 },
    });
    expect(quotaOf(quotas, 'acme')).toEqual({ rps: 50, bytesPerDay: 10 * 1024 ** 3, queued: 5000 });
    expect(quotaOf(quotas, 'someone-else')).toEqual({ rps: 200 });
    expect(quotaOf(parseTenantQuotas('acme=rps:1').quotas, 'other')).toBeUndefined();
  });

  it('names every bad entry and limit', () => {
    const { problems } = parseTenantQuotas('Acme=rps:1;b=rps:0,speed:3;b=rps:2;c=bytes_day:lots');
    expect(problems).toHaveLength(5);
    expect(problems[0]).toContain('"Acme=rps:1"');
    expect(problems[1]).toContain('"rps:0"');
    expect(problems[2]).toContain('"speed:3"');
    expect(problems[3]).toContain('tenant "b" is listed twice');
    expect(problems[4]).toContain('"bytes_day:lots"');
  });

  it('is validated by loadConfig with the other keys, and off by default', () => {
    expect(loadConfig({}).TENANT_QUOTAS).toEqual({ tenants: {} });
    expect(() => loadConfig({ TENANT_QUOTAS: 'x=rps:-1' })).toThrow(/TENANT_QUOTAS: tenant "x"/);
  });
});

describe('REDIS_MEMORY_CEILING', () => {
  it('is a percentage of maxmemory or a size, 90% by default, off for none', () => {
    expect(parseMemoryCeiling('80%')).toEqual({ percent: 80 });
    expect(parseMemoryCeiling('512mb')).toEqual({ bytes: 512 * 1024 ** 2 });
    expect(parseMemoryCeiling('0%')).toBeUndefined();
    expect(parseMemoryCeiling('120%')).toBeUndefined();
    expect(loadConfig({}).REDIS_MEMORY_CEILING).toEqual({ percent: 90 });
    expect(loadConfig({ REDIS_MEMORY_CEILING: 'off' }).REDIS_MEMORY_CEILING).toBeNull();
    expect(() => loadConfig({ REDIS_MEMORY_CEILING: 'lots' })).toThrow(/REDIS_MEMORY_CEILING/);
  });

  it('reads sizes', () => {
    expect(parseByteSize('1000')).toBe(1000);
    expect(parseByteSize('2kb')).toBe(2048);
    expect(parseByteSize('1.5GB')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('-1')).toBeUndefined();
  });
});

describe('tenant metric labels', () => {
  it('keeps configured tenants and folds the rest into other', () => {
    const label = tenantLabeller(['acme', 'beta']);
    expect(label('acme')).toBe('acme');
    expect(label('mallory-123')).toBe('other');
    expect(label(undefined)).toBe('other');
  });
});
