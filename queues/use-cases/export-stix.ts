import { randomUUID } from 'node:crypto';
import type { StixExportQuery } from '../../src/domain/api/ioc-search.js';
import { stixIndicator } from '../../src/domain/stix.js';
import type { IocSearch } from '../../src/stores/hot/ioc-search.js';
import { exportIocs } from './export-iocs.js';

/**
 * The IOCs matching a filter as a STIX 2.1 bundle of indicators, streamed page by page; when
 * more than `limit` match, the bundle ends with `x_stowage_next_cursor`.
 */
export function exportStix(
  query: StixExportQuery,
  deps: { search: Pick<IocSearch, 'search'> },
): Promise<AsyncGenerator<string>> {
  return exportIocs(query, deps, {
    head: `{"type":"bundle","id":"bundle--${randomUUID()}","objects":[`,
    item: stixIndicator,
    tail: (next) =>
      next === undefined ? ']}' : `],"x_stowage_next_cursor":${JSON.stringify(next)}}`,
  });
}
