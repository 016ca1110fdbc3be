import { retentionEnd, type ArchivePart } from '../../src/domain/archive.js';
import type { ArchiveLockMode } from '../../src/stores/postgres/archive-ledger.js';
import type { ArchiveSse, LockedObject, WormArchive } from '../../src/stores/s3/worm-archive.js';
import type { JobContext } from '../job-definition.js';
import { GzipNdjsonPart, type BuiltPart } from './gzip-part.js';

/** The ARCHIVE_* settings a generation is written with. */
export interface GenerationSettings {
  lockMode: ArchiveLockMode;
  retentionYears: number;
  sse: ArchiveSse;
  kmsKeyId: string | undefined;
  /** Rows per part (ARCHIVE_PART_ROWS): bounds the compressed bytes held in memory. */
  partRows: number;
}

/** Where one generation of a day goes, and how its rows are written. */
export interface GenerationTarget<Row> {
  day: string;
  generation: number;
  /** The key of the generation's nth part (from 1): deterministic, so a retry finds it. */
  partKey: (n: number) => string;
  /** A row's NDJSON line. */
  line: (row: Row) => string;
  /** What log lines call a part: `archive part`, `activity archive part`. */
  noun: string;
  /** Called after each part is stored (progress). */
  onStored?: (parts: number, rows: number) => Promise<void>;
}

/** The parts of a finished generation. */
export interface WrittenParts {
  parts: ArchivePart[];
  rows: number;
  bytes: number;
  /** The earliest retain-until of the parts (a reused part may be locked a little earlier). */
  earliest: Date;
  /** Parts an earlier, unfinished run wrote with the same rows, kept. */
  reused: number;
}

/**
 * Writes one generation of an archive day under Object Lock: rows are compressed into gzip
 * NDJSON parts of ARCHIVE_PART_ROWS as they are written, a full part is uploaded (or, written
 * by a crashed run with the same rows, kept: no second version) before more rows are taken,
 * then the manifest. Memory holds one part's compressed bytes. Every archive job (IOCs,
 * activities) writes its generations with it; what a day is and how it is read is theirs.
 */
export class LockedGenerationWriter<Row> {
  private readonly stored: { part: ArchivePart; object: LockedObject }[] = [];
  private part: GzipNdjsonPart<Row>;
  private written = 0;
  /** The retain-until of every object this run writes. */
  readonly retainUntil: Date;

  constructor(
    private readonly archive: Pick<WormArchive, 'putLocked' | 'findReusable'>,
    private readonly settings: GenerationSettings,
    private readonly target: GenerationTarget<Row>,
    private readonly ctx: Pick<JobContext, 'log' | 'metrics'>,
    startedAt: Date,
  ) {
    this.retainUntil = retentionEnd(startedAt, settings.retentionYears);
    this.part = new GzipNdjsonPart<Row>(target.line);
  }

  /** Rows written so far. */
  get rows(): number {
    return this.written;
  }

  /** Parts stored so far. */
  get parts(): number {
    return this.stored.length;
  }

  /**
   * Appends a page of rows, uploading each part it fills. `onSlice` sees each run of rows with
   * the number of the part it went into (the IOC archive indexes them), before that part is
   * uploaded.
   */
  async write(
    page: readonly Row[],
    onSlice?: (rows: readonly Row[], part: number) => Promise<void>,
  ): Promise<void> {
    for (let i = 0; i < page.length;) {
      const take = Math.min(page.length - i, this.settings.partRows - this.part.rows);
      const slice = page.slice(i, i + take);
      await this.part.write(slice);
      await onSlice?.(slice, this.stored.length + 1);
      i += take;
      this.written += take;
      if (this.part.rows === this.settings.partRows) {
        await this.store(await this.part.finish());
        this.part = new GzipNdjsonPart<Row>(this.target.line);
      }
    }
  }

  /** Uploads the last part; the parts of the generation (none for a day without rows). */
  async finish(): Promise<WrittenParts> {
    if (this.part.rows > 0) await this.store(await this.part.finish());
    const parts = this.stored.map((s) => s.part);
    return {
      parts,
      rows: this.written,
      bytes: parts.reduce((sum, p) => sum + p.bytes, 0),
      earliest: new Date(
        Math.min(
          this.retainUntil.getTime(),
          ...this.stored.map((s) => s.object.retainUntil.getTime()),
        ),
      ),
      reused: this.stored.filter((s) => s.object.reused).length,
    };
  }

  /**
   * Writes the manifest under `key`, or keeps the one a crashed run wrote over exactly these
   * parts (same content digest).
   */
  async putManifest(key: string, manifest: object, contentDigest: string): Promise<LockedObject> {
    const metadata = { 'content-sha256': contentDigest };
    const object =
      (await this.archive.findReusable(key, {
        ...this.policy(),
        metadata,
        retentionYears: this.settings.retentionYears,
      })) ??
      (await this.archive.putLocked(key, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), {
        ...this.policy(),
        retainUntil: this.retainUntil,
        contentType: 'application/json',
        metadata: { ...metadata, ...this.objectMetadata() },
      }));
    if (!object.reused) this.ctx.metrics.bytesUploaded(object.bytes);
    return object;
  }

  private policy() {
    const { lockMode, sse, kmsKeyId } = this.settings;
    return { mode: lockMode, sse, kmsKeyId };
  }

  private objectMetadata() {
    return {
      'archive-day': this.target.day,
      'archive-generation': String(this.target.generation),
    };
  }

  private async store(built: BuiltPart): Promise<void> {
    const { day, generation } = this.target;
    const key = this.target.partKey(this.stored.length + 1);
    const metadata = { 'ndjson-sha256': built.ndjsonSha256, rows: String(built.rows) };
    // A part a crashed run already wrote, with the same rows, is kept: no second version.
    const object =
      (await this.archive.findReusable(key, {
        ...this.policy(),
        metadata,
        retentionYears: this.settings.retentionYears,
      })) ??
      (await this.archive.putLocked(key, built.body, {
        ...this.policy(),
        retainUntil: this.retainUntil,
        contentType: 'application/gzip',
        metadata: { ...metadata, ...this.objectMetadata() },
      }));
    this.stored.push({
      part: {
        key,
        version_id: object.versionId,
        rows: built.rows,
        bytes: object.bytes,
        sha256: object.sha256,
        ndjson_sha256: built.ndjsonSha256,
      },
      object,
    });
    if (!object.reused) this.ctx.metrics.bytesUploaded(object.bytes);
    this.ctx.log.info(
      { day, generation, key, rows: built.rows, bytes: object.bytes, reused: object.reused },
      object.reused ? `${this.target.noun} already there, kept` : `${this.target.noun} written`,
    );
    await this.target.onStored?.(this.stored.length, this.written);
  }
}
