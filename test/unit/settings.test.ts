import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { projectSettings } from '../../src/composition/settings.js';

describe('projectSettings', () => {
  it('projects the configuration once into camelCase structs, one per consumer', () => {
    const settings = projectSettings(
      loadConfig({
        SPOOL_DIR: '/var/spool/stowage',
        HOT_RETENTION_DAYS: '30',
        ARCHIVE_ENABLED: 'false',
        ARCHIVE_PART_ROWS: '5000',
        CACHE_PROMOTE_LIMIT: '123',
        UPLOAD_STALE_HOURS: '12',
        IDEMPOTENCY_TTL_HOURS: '0.5',
        URL_SOURCE_ALLOWLIST: 'files.example.com',
      }),
    );
    expect(settings.retention).toMatchObject({ archiveEnabled: false, hotRetentionDays: 30 });
    expect(settings.archive.partRows).toBe(5000);
    expect(settings.cache.promoteLimit).toBe(123);
    expect(settings.cache.hotRule).toEqual({ minConfidence: 0.7, maxAgeHours: 48 });
    expect(settings.uploads.spoolDir).toBe('/var/spool/stowage');
    expect(settings.uploads.abortStale.staleHours).toBe(12);
    expect(settings.uploads.urlAllowlist.map((e) => e.host)).toEqual(['files.example.com']);
    expect(settings.idempotency.ttlSeconds).toBe(1_800);
  });

  it('refuses a bad URL_SOURCE_ALLOWLIST, naming the key', () => {
    expect(() => projectSettings(loadConfig({ URL_SOURCE_ALLOWLIST: 'http://x/y' }))).toThrow(
      /URL_SOURCE_ALLOWLIST/,
    );
  });
});
