import { z } from 'zod';
import { jobSearchQuerySchema, type JobSearchQuery } from '../domain/api/job-search.js';
import { parseRecordFlags, parseWith, type RecordFlags } from './record-flags.js';
import { UsageError } from './usage-error.js';

/** What `stowage jobs list|show|remove` was asked (`jobs cancel` is parsed on its own). */
export type JobSearchCommand =
  | { command: 'jobs-list'; query: JobSearchQuery; json: boolean }
  | { command: 'jobs-show'; jobId: string; json: boolean }
  | { command: 'jobs-remove'; jobId: string; json: boolean };

/** The flags of each of these `jobs` subcommands. */
export const JOB_SEARCH_FLAGS = {
  list: {
    strings: {
      type: 'type',
      state: 'state',
      tenant: 'tenant',
      tag: 'tag',
      since: 'since',
      limit: 'limit',
      cursor: 'cursor',
    },
    booleans: { json: 'json' },
  },
  show: { positionals: ['job_id'], booleans: { json: 'json' } },
  remove: { positionals: ['job_id'], booleans: { json: 'json' } },
} satisfies Record<string, RecordFlags>;

/** The subcommands parsed here. */
export const JOB_SEARCH_SUBCOMMANDS: readonly string[] = Object.keys(JOB_SEARCH_FLAGS);

const idOnly = z.strictObject({ job_id: z.string().min(1).max(500) });

/** Parses `jobs list|show|remove …`; a usage error names the flag. */
export function parseJobSearchArgs(args: string[]): JobSearchCommand {
  const [sub, ...rest] = args;
  const command = `jobs ${sub ?? ''}`;
  switch (sub) {
    case 'list': {
      const spec = JOB_SEARCH_FLAGS.list;
      const { fields } = parseRecordFlags(command, rest, spec);
      const { json, ...query } = fields;
      return {
        command: 'jobs-list',
        query: parseWith(command, spec, jobSearchQuerySchema, query),
        json: json === 'true',
      };
    }
    case 'show':
    case 'remove': {
      const spec = JOB_SEARCH_FLAGS[sub];
      const { fields, positional } = parseRecordFlags(command, rest, spec);
      const { job_id } = parseWith(command, spec, idOnly, positional);
      return { command: `jobs-${sub}`, jobId: job_id, json: fields.json === 'true' };
    }
    default:
      throw new UsageError(`jobs: unknown subcommand "${sub ?? ''}" (list, show, remove)`);
  }
}
