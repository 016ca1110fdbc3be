import { UploadPartCommand } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRoot, type Root } from '../../src/composition/root.js';
import { createLogger } from '../../src/log.js';
import {
  uploadFileResumable,
  type ResumableUploadOptions,
} from '../../src/stores/s3/resumable-upload.js';
import type { UploadCheckpoint } from '../../src/stores/s3/upload-checkpoint.js';
import {
  artifactOverrides,
  dropArtifacts,
  incompleteUploads,
  objectDigest,
  writeRandomFile,
} from '../helpers/artifacts.js';
import { testConfig } from '../helpers/world.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

describe('uploadFileResumable on Ceph RGW', () => {
  let overrides: Record<string, string>;
  let deps: Root;
  let bucket: string;
  let file: string;
  let sha256: string;
  const size = 6 * PART + 12_345;

  beforeEach(async () => {
    overrides = await artifactOverrides();
    const config = testConfig(overrides);
    deps = createRoot(config, createLogger(config), { role: 'api' });
    await deps.artifacts.ensureBuckets();
    bucket = deps.artifacts.bucketFor('debug-bundle');
    file = join(overrides.SPOOL_DIR!, 'bundle');
    sha256 = await writeRandomFile(file, size);
  });
  afterEach(async () => {
    await dropArtifacts(deps.s3, overrides);
    await deps.close();
  });

  const options = (extra: Partial<ResumableUploadOptions> = {}): ResumableUploadOptions => ({
    s3: deps.s3,
    bucket,
    key: 'debug/run-1/bundle.zip',
    filePath: file,
    size,
    sha256,
    contentType: 'application/zip',
    partSize: PART,
    queueSize: 2,
    ...extra,
  });

  it('stopped by its signal, it keeps the multipart upload; called again with the checkpoint it sends only the rest', async () => {
    let saved: UploadCheckpoint | undefined;
    const stop = new AbortController();
    const first = uploadFileResumable(
      options({
        queueSize: 1,
        signal: stop.signal,
        onCheckpoint: (state) => {
          saved = state;
          if (state.parts.length === 3) stop.abort(new Error('shutting down'));
          return Promise.resolve();
        },
      }),
    );
    await expect(first).rejects.toMatchObject({ kind: 'transient', code: 'upload_interrupted' });
    expect(saved?.parts).toHaveLength(3);
    expect((await incompleteUploads(deps.s3, bucket)).map((u) => u.UploadId)).toEqual([
      saved!.uploadId,
    ]);

    const progress: number[] = [];
    const second = await uploadFileResumable(
      options({
        checkpoint: saved,
        onCheckpoint: (state) => {
          saved = state;
          return Promise.resolve();
        },
        onProgress: (bytes) => {
          progress.push(bytes);
        },
      }),
    );
    expect(second).toMatchObject({ parts: 7, resumedParts: 3, sentParts: 4, size, sha256 });
    expect(second.uploadId).toBe(saved!.uploadId);
    expect(progress.at(-1)).toBe(size);
    expect(await objectDigest(deps.s3, bucket, 'debug/run-1/bundle.zip')).toEqual({
      sha256,
      bytes: size,
    });
    expect(await incompleteUploads(deps.s3, bucket)).toEqual([]);
  });

  it('a checkpoint whose upload is gone (aborted by uploads.abort-stale) starts a fresh one', async () => {
    const stale: UploadCheckpoint = {
      uploadId: '2~no-such-upload',
      bucket,
      key: 'debug/run-1/bundle.zip',
      partSize: PART,
      sha256,
      parts: [{ PartNumber: 1, ETag: '"0123456789abcdef0123456789abcdef"' }],
    };
    const result = await uploadFileResumable(options({ checkpoint: stale }));
    expect(result).toMatchObject({ resumedParts: 0, sentParts: 7 });
    expect(result.uploadId).not.toBe(stale.uploadId);
  });

  it('a part on the server whose bytes differ from the file (MD5 of its ETag) is sent again', async () => {
    let saved: UploadCheckpoint | undefined;
    const stop = new AbortController();
    await uploadFileResumable(
      options({
        queueSize: 1,
        signal: stop.signal,
        onCheckpoint: (state) => {
          saved = state;
          if (state.parts.length === 2) stop.abort();
          return Promise.resolve();
        },
      }),
    ).catch(() => undefined);
    expect(saved?.parts).toHaveLength(2);
    // Part 2 on the server now holds other bytes of the same size.
    await deps.s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: 'debug/run-1/bundle.zip',
        UploadId: saved!.uploadId,
        PartNumber: 2,
        Body: Buffer.alloc(PART, 7),
      }),
    );
    const result = await uploadFileResumable(options({ checkpoint: saved }));
    expect(result).toMatchObject({ resumedParts: 1, sentParts: 6, sha256 });
    expect(await objectDigest(deps.s3, bucket, 'debug/run-1/bundle.zip')).toEqual({
      sha256,
      bytes: size,
    });
  });

  it('a checkpoint of an upload created for another digest is not resumed', async () => {
    let saved: UploadCheckpoint | undefined;
    const stop = new AbortController();
    await uploadFileResumable(
      options({
        queueSize: 1,
        signal: stop.signal,
        onCheckpoint: (state) => {
          saved = state;
          if (state.parts.length === 1) stop.abort();
          return Promise.resolve();
        },
      }),
    ).catch(() => undefined);
    const other = await writeRandomFile(file, size);
    const result = await uploadFileResumable(options({ checkpoint: saved, sha256: other }));
    expect(result).toMatchObject({ resumedParts: 0, sentParts: 7, sha256: other });
    expect(await deps.artifacts.head('debug-bundle', 'debug/run-1/bundle.zip')).toMatchObject({
      sha256: other,
    });
    // The old upload was aborted, not left behind.
    expect(await incompleteUploads(deps.s3, bucket)).toEqual([]);
  });

  it('a file whose size differs from the declared one fails before anything is sent', async () => {
    await expect(uploadFileResumable(options({ size: size + 1 }))).rejects.toMatchObject({
      kind: 'permanent',
      code: 'size_mismatch',
    });
    expect(await incompleteUploads(deps.s3, bucket)).toEqual([]);
  });

  it('an empty file becomes an empty object with the digest of nothing', async () => {
    const empty = join(overrides.SPOOL_DIR!, 'empty');
    const emptySha = await writeRandomFile(empty, 0);
    const result = await uploadFileResumable(
      options({ filePath: empty, size: 0, sha256: emptySha, key: 'debug/run-1/empty.txt' }),
    );
    expect(result).toMatchObject({ size: 0, parts: 0 });
    expect(await deps.artifacts.head('debug-bundle', 'debug/run-1/empty.txt')).toMatchObject({
      size: 0,
      sha256: emptySha,
    });
  });
});
