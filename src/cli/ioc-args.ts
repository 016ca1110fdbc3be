import {
  iocSearchQuerySchema,
  stixExportQuerySchema,
  type IocSearchQuery,
  type StixExportQuery,
} from '../domain/api/ioc-search.js';
import type { IocType } from '../domain/ioc.js';
import { parseIndicator } from '../../queues/use-cases/lookup-ioc.js';
import { checkAsUsage, parseRecordFlags, parseWith, type RecordFlags } from './record-flags.js';
import { UsageError } from './usage-error.js';

/** What `stowage iocs …` was asked, checked with the use cases' own schemas. */
export type IocCommand =
  | { command: 'iocs-search'; query: IocSearchQuery }
  | { command: 'iocs-stats' }
  | { command: 'iocs-get'; type: IocType; value: string; useCache: boolean }
  | { command: 'iocs-delete'; type: IocType; value: string }
  | { command: 'iocs-export-stix'; query: StixExportQuery }
  | { command: 'iocs-export-misp'; query: StixExportQuery };

/** The filter flags of search and export: `GET /v1/iocs`'s query fields, kebab-cased. */
const FILTER_FLAGS = {
  type: 'type',
  'threat-type': 'threat_type',
  'min-confidence': 'min_confidence',
  'max-confidence': 'max_confidence',
  source: 'source',
  tag: 'tag',
  cidr: 'cidr',
  'seen-since': 'seen_since',
  'seen-until': 'seen_until',
  limit: 'limit',
  cursor: 'cursor',
};

/** The flags of each `iocs` subcommand. */
export const IOC_FLAGS = {
  search: { strings: FILTER_FLAGS, booleans: { count: 'count' } },
  stats: {},
  get: { positionals: ['type', 'value'], booleans: { 'no-cache': 'no_cache' } },
  delete: { positionals: ['type', 'value'] },
  'export-stix': { strings: FILTER_FLAGS },
  'export-misp': { strings: FILTER_FLAGS },
} satisfies Record<string, RecordFlags>;

type Sub = keyof typeof IOC_FLAGS;
const isSub = (s: string | undefined): s is Sub => s !== undefined && s in IOC_FLAGS;

/** Parses `iocs search|stats|get|delete|export-stix|export-misp …`; a usage error names the flag. */
export function parseIocArgs(args: string[]): IocCommand {
  const [sub, ...rest] = args;
  if (!isSub(sub)) {
    throw new UsageError(`iocs: expected ${Object.keys(IOC_FLAGS).join(', ')}, not "${sub ?? ''}"`);
  }
  const command = `iocs ${sub}`;
  const spec: RecordFlags = IOC_FLAGS[sub];
  const { fields, positional } = parseRecordFlags(command, rest, spec);
  switch (sub) {
    case 'search':
      return {
        command: 'iocs-search',
        query: parseWith(command, spec, iocSearchQuerySchema, fields),
      };
    case 'export-stix':
    case 'export-misp':
      return {
        command: sub === 'export-stix' ? 'iocs-export-stix' : 'iocs-export-misp',
        query: parseWith(command, spec, stixExportQuerySchema, fields),
      };
    case 'stats':
      return { command: 'iocs-stats' };
    case 'get':
    case 'delete': {
      const indicator = checkAsUsage(command, spec, () =>
        parseIndicator({ type: positional.type!, value: positional.value! }),
      );
      return sub === 'get'
        ? { command: 'iocs-get', ...indicator, useCache: fields.no_cache !== 'true' }
        : { command: 'iocs-delete', ...indicator };
    }
  }
}
