import { describe, expect, it } from 'vitest';
import { PermanentError, ValidationError } from '../../src/errors/index.js';
import type { ObjectVersion } from '../../src/stores/s3/artifact-object.js';
import { deleteArtifact, type DeleteArtifactDeps } from '../../queues/use-cases/delete-artifact.js';

/** In-memory buckets: what the use case asked of them. */
function depsWith(versions: ObjectVersion[], bucket = 'samples-bucket') {
  const calls: string[] = [];
  const deps: DeleteArtifactDeps = {
    store: {
      bucketFor: () => bucket,
      versions: (_kind, key) => {
        calls.push(`versions ${key}`);
        return Promise.resolve(versions);
      },
      deleteVersion: (_kind, key, id) => {
        calls.push(`delete ${key} ${id}`);
        return Promise.resolve();
      },
    },
    audit: {
      begin: () => {
        calls.push('audit');
        return Promise.resolve('1');
      },
      complete: () => Promise.resolve(new Date('2026-01-01T00:00:00Z')),
    },
    archiveBucket: 'archive-bucket',
    now: () => new Date('2026-06-01T00:00:00Z'),
  };
  return { deps, calls };
}

const version = (over: Partial<ObjectVersion> = {}): ObjectVersion => ({
  versionId: 'v1',
  isLatest: true,
  size: 10,
  sha256: 'a'.repeat(64),
  lockMode: undefined,
  retainUntil: undefined,
  legalHold: false,
  ...over,
});

const input = (kind: 'sample' | 'ta-bundle' | 'debug-bundle', key: string) => ({
  kind,
  key,
  apiKey: 'admin',
  reason: undefined,
});

async function refusal(promise: Promise<unknown>): Promise<PermanentError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PermanentError);
  return err as PermanentError;
}

describe('deleteArtifact', () => {
  it('refuses a TA bundle and a key in the archive bucket before asking S3 anything', async () => {
    const ta = depsWith([version()]);
    const err = await refusal(deleteArtifact(ta.deps, input('ta-bundle', 'tas/r/v1/x.tgz')));
    expect(err.code).toBe('artifact_protected');
    expect(ta.calls).toEqual([]);

    const archived = depsWith([version()], 'archive-bucket');
    const archiveErr = await refusal(
      deleteArtifact(archived.deps, input('sample', 'samples/r/a.log')),
    );
    expect(archiveErr.code).toBe('artifact_protected');
    expect(archiveErr.message).toMatch(/WORM archive/);
    expect(archived.calls).toEqual([]);
  });

  it('refuses when any version is held or retained; an expired retention does not count', async () => {
    for (const locked of [
      version({ versionId: 'old', isLatest: false, legalHold: true }),
      version({
        versionId: 'old',
        isLatest: false,
        lockMode: 'COMPLIANCE',
        retainUntil: new Date('2027-01-01T00:00:00Z'),
      }),
    ]) {
      const { deps, calls } = depsWith([version(), locked]);
      const err = await refusal(deleteArtifact(deps, input('debug-bundle', 'debug/r/a.zip')));
      expect(err.message).toMatch(/version old is under/);
      expect(calls).toEqual(['versions debug/r/a.zip']);
    }
    const expired = version({
      versionId: 'old',
      isLatest: false,
      lockMode: 'GOVERNANCE',
      retainUntil: new Date('2026-01-01T00:00:00Z'),
    });
    const { deps, calls } = depsWith([version(), expired]);
    const done = await deleteArtifact(deps, input('debug-bundle', 'debug/r/a.zip'));
    expect(done).toMatchObject({ deleted: true, version_ids: ['old', 'v1'] });
    // Audited first, the current version deleted last.
    expect(calls).toEqual([
      'versions debug/r/a.zip',
      'audit',
      'delete debug/r/a.zip old',
      'delete debug/r/a.zip v1',
    ]);
  });

  it('a key not of the kind is a ValidationError naming key; nothing there is deleted: false', async () => {
    const { deps } = depsWith([]);
    const bad = await deleteArtifact(deps, input('sample', 'debug/r/a.zip')).catch(
      (e: unknown) => e,
    );
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).issues[0]?.path).toBe('key');
    expect(await deleteArtifact(deps, input('sample', 'samples/r/a.log'))).toMatchObject({
      deleted: false,
      version_ids: [],
    });
  });
});
