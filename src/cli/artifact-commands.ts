import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, PermanentError } from '../errors/index.js';
import type { ArtifactBody } from '../stores/s3/artifact-object.js';
import { deleteArtifact } from '../../queues/use-cases/delete-artifact.js';
import { downloadArtifact } from '../../queues/use-cases/download-artifact.js';
import { headArtifact } from '../../queues/use-cases/head-artifact.js';
import type { ArtifactCommand } from './artifact-args.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { writeJson, type OperatorContext } from './operator-context.js';
import { osUser } from './os-user.js';
import { writeChunks } from './stdout-stream.js';

/**
 * `stowage artifacts get|head|delete`: one stored artifact by its key, straight from the
 * buckets (and the deletion audit in PostgreSQL), through the api's use cases.
 */
export async function artifactCommand(
  ctx: OperatorContext,
  cmd: ArtifactCommand,
): Promise<ExitCode> {
  const { deps } = ctx;
  try {
    switch (cmd.command) {
      case 'artifacts-head':
        writeJson(ctx.io, await headArtifact(deps.artifacts, cmd));
        return EXIT.ok;
      case 'artifacts-delete':
        await deps.checkSchema(); // the audit row's table: `stowage init` owns the schema
        // Whoever can run the operator CLI against the buckets is an admin (as for rewinds).
        writeJson(
          ctx.io,
          await deleteArtifact(
            {
              store: deps.artifacts,
              audit: deps.artifactDeletions,
              archiveBucket: ctx.config.ARCHIVE_BUCKET,
            },
            { kind: cmd.kind, key: cmd.key, apiKey: `cli:${osUser()}`, reason: cmd.reason },
          ),
        );
        return EXIT.ok;
      case 'artifacts-get':
        return await download(ctx, cmd);
    }
  } catch (err) {
    // Not there, or protected from deletion (a TA bundle, a locked version): exit 1.
    if (
      err instanceof NotFoundError ||
      (err instanceof PermanentError && err.code === 'artifact_protected')
    ) {
      ctx.io.stderr.write(`${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
}

/**
 * Streams the bytes to -o FILE or stdout, hashing them on the way: a whole download whose
 * SHA-256 is not the one stored at upload exits 1 (and removes FILE). With -o, what was
 * written is described as JSON on stdout; without, a line on stderr.
 */
async function download(
  ctx: OperatorContext,
  cmd: Extract<ArtifactCommand, { command: 'artifacts-get' }>,
): Promise<ExitCode> {
  const answer = await downloadArtifact(ctx.deps.artifacts, { ...cmd, range: cmd.range });
  if (answer.status === 416) {
    ctx.io.stderr.write(
      `artifacts get: --range starts past the end: ${cmd.kind} "${cmd.key}" has ${answer.size} bytes\n`,
    );
    return EXIT.failure;
  }
  const { object } = answer;
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  if (cmd.output === undefined) {
    await pipeline(object.body, tap, (source: AsyncIterable<Buffer>) =>
      writeChunks(ctx.io.stdout, source),
    );
  } else {
    await pipeline(object.body, tap, createWriteStream(cmd.output));
  }
  const sha256 = hash.digest('hex');
  const problem = check(object, bytes, sha256);
  if (problem !== undefined) {
    if (cmd.output !== undefined) await rm(cmd.output, { force: true });
    ctx.io.stderr.write(`artifacts get: ${cmd.kind} "${cmd.key}": ${problem}\n`);
    return EXIT.failure;
  }
  const range = object.range ? { ...object.range, size: object.size } : null;
  const verified = object.range === undefined && object.sha256 !== undefined;
  if (cmd.output === undefined) {
    ctx.io.stderr.write(
      `${bytes} bytes of ${cmd.kind} "${cmd.key}"${range ? ` (bytes ${range.start}-${range.end}/${range.size})` : ''}${verified ? ', SHA-256 verified' : ''}\n`,
    );
    return EXIT.ok;
  }
  writeJson(ctx.io, {
    kind: cmd.kind,
    key: cmd.key,
    file: cmd.output,
    bytes,
    size: object.size,
    range,
    // The digest of the bytes written; object_sha256 is the whole object's, stored at upload.
    sha256,
    object_sha256: object.sha256 ?? null,
    sha256_verified: verified,
    content_type: object.contentType,
    etag: object.etag ?? null,
    last_modified: object.lastModified?.toISOString() ?? null,
  });
  return EXIT.ok;
}

/** Why the bytes received are not the object's: too few, or another digest. */
function check(object: ArtifactBody, bytes: number, sha256: string): string | undefined {
  if (bytes !== object.length) return `received ${bytes} of ${object.length} bytes`;
  if (object.range === undefined && object.sha256 !== undefined && object.sha256 !== sha256) {
    return `the bytes' SHA-256 ${sha256} is not the stored ${object.sha256}`;
  }
  return undefined;
}
