import { z } from 'zod';
import { artifactDeleteQuerySchema } from '../domain/api/artifact-objects.js';
import { ARTIFACT_KINDS, type ArtifactKind } from '../domain/artifact.js';
import { byteRangeHeader, parseByteRange } from '../domain/byte-range.js';
import { checkArtifactKey } from '../../queues/use-cases/download-artifact.js';
import { checkAsUsage, parseRecordFlags, parseWith, type RecordFlags } from './record-flags.js';
import { UsageError } from './usage-error.js';

/** What `stowage artifacts …` was asked; kind and key checked as the api checks them. */
export type ArtifactCommand =
  | {
      command: 'artifacts-get';
      kind: ArtifactKind;
      key: string;
      /** Where the bytes go; stdout when undefined. */
      output?: string | undefined;
      /** A `Range` header value (`bytes=…`). */
      range?: string | undefined;
    }
  | { command: 'artifacts-head'; kind: ArtifactKind; key: string }
  | { command: 'artifacts-delete'; kind: ArtifactKind; key: string; reason?: string | undefined };

const OBJECT = ['kind', 'key'] as const;

/** The flags of each `artifacts` subcommand. */
export const ARTIFACT_FLAGS = {
  get: {
    positionals: OBJECT,
    strings: { output: 'output', range: 'range' },
    short: { o: 'output' },
  },
  head: { positionals: OBJECT },
  delete: { positionals: OBJECT, strings: { reason: 'reason' } },
} satisfies Record<string, RecordFlags>;

const kindSchema = z.strictObject({ kind: z.enum(ARTIFACT_KINDS), key: z.string() });

/** Parses `artifacts get|head|delete <kind> <key> …`; a usage error names the part. */
export function parseArtifactArgs(args: string[]): ArtifactCommand {
  const [sub, ...rest] = args;
  if (sub !== 'get' && sub !== 'head' && sub !== 'delete') {
    throw new UsageError(`artifacts: expected get, head or delete, not "${sub ?? ''}"`);
  }
  const command = `artifacts ${sub}`;
  const spec: RecordFlags = ARTIFACT_FLAGS[sub];
  const { fields, positional } = parseRecordFlags(command, rest, spec);
  const { kind, key } = parseWith(command, spec, kindSchema, positional);
  checkAsUsage(command, spec, () => checkArtifactKey(kind, key));
  if (sub === 'head') return { command: 'artifacts-head', kind, key };
  if (sub === 'delete') {
    const { reason } = parseWith(command, spec, artifactDeleteQuerySchema, fields);
    return { command: 'artifacts-delete', kind, key, reason };
  }
  return {
    command: 'artifacts-get',
    kind,
    key,
    output: fields.output,
    range: rangeOf(fields.range),
  };
}

/** `--range 0-99`, `100-` or `=-50` (bytes, as HTTP's `bytes=` spells them) as a Range header. */
function rangeOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  // The api ignores a Range it cannot read (RFC 9110); an operator who typed one wants to know.
  const range = parseByteRange(raw.startsWith('bytes=') ? raw : `bytes=${raw}`);
  if (range === undefined) {
    throw new UsageError(
      `artifacts get: --range "${raw}" must be FIRST-LAST, FIRST- or -SUFFIX (bytes, inclusive, FIRST ≤ LAST; the last N bytes: --range=-N)`,
    );
  }
  return byteRangeHeader(range);
}
