import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { ARCHIVE_SCHEMA_VERSION, type ArchiveManifest } from '../../domain/archive.js';
import { IOC_TYPES, type IocType } from '../../domain/ioc.js';
import { PermanentError } from '../../errors/index.js';
import { readVerifiedObject } from './verified-object.js';

/** A recorded generation's manifest, as the ledger vouches for it. */
export interface RecordedManifest {
  bucket: string;
  manifest_key: string;
  manifest_version_id: string | null;
  manifest_sha256: string;
}

/** The indicators one part of a generation holds. */
export interface ArchivedPartKeys {
  /** The part's number in the manifest (from 1). */
  part: number;
  keys: { type: IocType; value: string }[];
}

/**
 * Reads a recorded archive generation back, part by part: the manifest and each part by the
 * version the archive vouches for, each checked against its SHA-256 before a line is read, and
 * every line checked to be an archived IOC. One part in memory at a time.
 */
export class ArchivedGenerationReader {
  constructor(private readonly s3: S3Client) {}

  /** The indicators of every part of a generation, in manifest order. */
  async *partKeys(generation: RecordedManifest): AsyncGenerator<ArchivedPartKeys> {
    const manifestBody = await readVerifiedObject(this.s3, {
      bucket: generation.bucket,
      key: generation.manifest_key,
      versionId: generation.manifest_version_id,
      sha256: generation.manifest_sha256,
    });
    const manifest = JSON.parse(manifestBody.toString('utf8')) as ArchiveManifest;
    // What the object says, not what the type promises: a newer layout is refused by name.
    const version: unknown = manifest.schema_version;
    if (version !== ARCHIVE_SCHEMA_VERSION) {
      throw new PermanentError(
        'archive_verification_failed',
        `${generation.manifest_key} has manifest schema ${String(version)}, this version reads ${ARCHIVE_SCHEMA_VERSION}`,
        { ...generation },
      );
    }
    for (const [index, part] of manifest.parts.entries()) {
      const body = await readVerifiedObject(this.s3, {
        bucket: generation.bucket,
        key: part.key,
        versionId: part.version_id,
        sha256: part.sha256,
      });
      const keys: { type: IocType; value: string }[] = [];
      const lines = createInterface({ input: Readable.from([body]).pipe(createGunzip()) });
      for await (const line of lines) {
        if (line.length === 0) continue;
        keys.push(keyOfLine(line, part.key));
      }
      if (keys.length !== part.rows) {
        throw new PermanentError(
          'archive_verification_failed',
          `${part.key} holds ${keys.length} lines, its manifest says ${part.rows}`,
          { ...generation, part: part.key },
        );
      }
      yield { part: index + 1, keys };
    }
  }
}

function keyOfLine(line: string, partKey: string): { type: IocType; value: string } {
  const raw = JSON.parse(line) as { type?: unknown; value?: unknown };
  const type = IOC_TYPES.find((t) => t === raw.type);
  if (type === undefined || typeof raw.value !== 'string') {
    throw new PermanentError('archive_verification_failed', `a line of ${partKey} is not an IOC`, {
      part: partKey,
      line: line.slice(0, 200),
    });
  }
  return { type, value: raw.value };
}
