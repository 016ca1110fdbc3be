import { z } from 'zod';

/** What a retry needs to continue an upload: kept with the job after every finished part. */
export const uploadCheckpointSchema = z.strictObject({
  uploadId: z.string().min(1),
  bucket: z.string().min(1),
  key: z.string().min(1),
  /** The part size the upload was started with; a retry keeps it whatever the configuration says now. */
  partSize: z.number().int().positive(),
  /** The digest the upload was created with: it is in the object's metadata from the start. */
  sha256: z.string(),
  parts: z.array(z.strictObject({ PartNumber: z.number().int().min(1), ETag: z.string() })),
});
export type UploadCheckpoint = z.infer<typeof uploadCheckpointSchema>;

/** One finished part, as CompleteMultipartUpload wants it. */
export interface FinishedPart {
  PartNumber: number;
  ETag: string;
}

/** A checkpoint saved by an earlier attempt, or undefined when there is none (or it is not one). */
export function parseUploadCheckpoint(value: unknown): UploadCheckpoint | undefined {
  const parsed = uploadCheckpointSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The finished parts of one multipart upload and the saving of its checkpoint. Saves run
 * one after another and each writes the newest state, so a slow save can never overwrite
 * a later one.
 */
export class UploadCheckpointLog {
  private readonly finished = new Map<number, string>();
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly upload: Omit<UploadCheckpoint, 'parts'>,
    private readonly onCheckpoint?: (state: UploadCheckpoint) => Promise<void>,
  ) {}

  /** Records a part S3 holds (sent now or by an earlier attempt). */
  finish(partNumber: number, etag: string): void {
    this.finished.set(partNumber, etag);
  }

  /** How many parts are finished. */
  get count(): number {
    return this.finished.size;
  }

  /** The upload and its finished parts, in part order. */
  snapshot(): UploadCheckpoint {
    return {
      ...this.upload,
      parts: [...this.finished]
        .sort(([a], [b]) => a - b)
        .map(([PartNumber, ETag]) => ({ PartNumber, ETag })),
    };
  }

  /** Saves the newest state once the saves before it are done. */
  save(): Promise<void> {
    const next = this.saving.then(() => this.onCheckpoint?.(this.snapshot()));
    this.saving = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every save asked for so far has ended (failed ones included). */
  settled(): Promise<void> {
    return this.saving;
  }
}
