import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeReport, type RetentionReport } from '../../jobs/retention-cleanup/report.js';

describe('writeReport', () => {
  it('writes the report as JSON, replacing an older one and leaving no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stowage-report-'));
    try {
      const path = join(dir, 'cleanup_report.json');
      const report: RetentionReport = {
        dry_run: true,
        as_of: '2026-01-01T00:00:00.000Z',
        targets: {
          hot: {
            rows: 3,
            oldest: '2025-09-01T00:00:00.000Z',
            newest: '2025-09-02T00:00:00.000Z',
            blocked_unarchived_rows: 1,
            kept_changed_since_archive: 2,
            cutoff: '2025-10-03T00:00:00.000Z',
            batches: 1,
            archive_required: true,
          },
        },
      };
      await writeReport({ ...report, dry_run: false }, path);
      await writeReport(report, path);
      expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(report);
      expect(await readdir(dir)).toEqual(['cleanup_report.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
