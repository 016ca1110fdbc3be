import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ArchiveManifest } from '../../domain/archive.js';
import { IOC_TYPES, type IocType, type StoredIoc } from '../../domain/ioc.js';
import { PermanentError } from '../../errors/index.js';
import { ExpiringMemo } from '../local/expiring-memo.js';
import type { ArchiveIndex, ArchiveLocation } from '../postgres/archive-index.js';
import { readVerifiedObject } from './verified-object.js';

/** How long and how many archive answers the process keeps (ARCHIVE_LOOKUP_MEMO_*). */
export interface ArchivedIocReaderOptions {
  memoTtlMs: number;
  memoEntries: number;
}

/** An archived indicator and where it was read from. */
export interface ArchivedIoc {
  ioc: StoredIoc;
  day: string;
  generation: number;
}

/**
 * Finds indicators that left the hot store in the WORM archive: the index names the day,
 * generation and part (one indexed PostgreSQL query), then the manifest the ledger vouches
 * for and that one part are read by version and checked against their SHA-256 before a
 * line is believed. At most two small GETs a look-up, never a listing or a scan of a day.
 * Answers are kept in an in-process memo for a short time (archive objects never change;
 * a newer generation shows after the TTL) — never in Redis, where cache-sync keeps hot
 * entries only.
 */
export class ArchivedIocReader {
  private readonly memo: ExpiringMemo<ArchivedIoc>;

  constructor(
    private readonly index: Pick<ArchiveIndex, 'locate'>,
    private readonly s3: S3Client,
    options: ArchivedIocReaderOptions,
  ) {
    this.memo = new ExpiringMemo({ maxEntries: options.memoEntries, ttlMs: options.memoTtlMs });
  }

  /** The newest archived copy of an indicator, or undefined when the archive has none. */
  async find(type: IocType, value: string): Promise<ArchivedIoc | undefined> {
    const memoKey = `${type}\u0000${value}`;
    const known = this.memo.get(memoKey);
    if (known !== undefined) return known;
    const location = await this.index.locate(type, value);
    if (location === undefined) return undefined;
    const found = await this.readFrom(location, type, value);
    if (found !== undefined) this.memo.set(memoKey, found);
    return found;
  }

  private async readFrom(
    location: ArchiveLocation,
    type: IocType,
    value: string,
  ): Promise<ArchivedIoc | undefined> {
    const manifestBody = await readVerifiedObject(this.s3, {
      bucket: location.bucket,
      key: location.manifest_key,
      versionId: location.manifest_version_id,
      sha256: location.manifest_sha256,
    });
    const manifest = JSON.parse(manifestBody.toString('utf8')) as ArchiveManifest;
    const part = manifest.parts[location.part - 1];
    if (part === undefined) {
      throw new PermanentError(
        'archive_verification_failed',
        `the archive index names part ${location.part} of ${location.manifest_key}, which lists ${manifest.parts.length}`,
        { ...location },
      );
    }
    const body = await readVerifiedObject(this.s3, {
      bucket: location.bucket,
      key: part.key,
      versionId: part.version_id,
      sha256: part.sha256,
    });
    const line = await findGzipLine(
      body,
      `{"type":${JSON.stringify(type)},"value":${JSON.stringify(value)},`,
    );
    if (line === undefined) return undefined;
    return { ioc: parseArchiveLine(line), day: location.day, generation: location.generation };
  }
}

/**
 * The first line of a gzip NDJSON part that starts with `prefix`, found by a byte search over
 * the inflated stream (about 2.5 times faster than splitting every line); decompression stops
 * at the line's end.
 */
export async function findGzipLine(gzipped: Buffer, prefix: string): Promise<string | undefined> {
  const needle = Buffer.from(`\n${prefix}`);
  const text = Readable.from([gzipped]).pipe(createGunzip());
  // A newline in front, so that the first line matches like any other.
  let window = Buffer.from('\n');
  let found = false;
  try {
    for await (const chunk of text as AsyncIterable<Buffer>) {
      window = Buffer.concat([window, chunk]);
      if (!found) {
        const at = window.indexOf(needle);
        if (at < 0) {
          // Keep what could be the start of a match cut by the chunk boundary.
          window = window.subarray(Math.max(0, window.length - needle.length + 1));
          continue;
        }
        found = true;
        window = window.subarray(at + 1);
      }
      const end = window.indexOf(0x0a);
      if (end >= 0) return window.subarray(0, end).toString('utf8');
    }
    return found && window.length > 0 ? window.toString('utf8') : undefined;
  } finally {
    text.destroy();
  }
}

/** An archive line (domain/archive.ts archiveLine) as a stored IOC. */
function parseArchiveLine(line: string): StoredIoc {
  const raw = JSON.parse(line) as Record<string, unknown>;
  const type = IOC_TYPES.find((t) => t === raw.type);
  const strings = (v: unknown) =>
    Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
  if (
    type === undefined ||
    typeof raw.value !== 'string' ||
    typeof raw.first_seen !== 'string' ||
    typeof raw.last_seen !== 'string'
  ) {
    throw new PermanentError(
      'archive_verification_failed',
      'an archive line is not an archived IOC',
      {
        line: line.slice(0, 200),
      },
    );
  }
  return {
    type,
    value: raw.value,
    threat_type: typeof raw.threat_type === 'string' ? raw.threat_type : '',
    confidence: typeof raw.confidence === 'number' ? raw.confidence : 0,
    sources: strings(raw.sources),
    first_seen: new Date(raw.first_seen),
    last_seen: new Date(raw.last_seen),
    tags: strings(raw.tags),
  };
}
