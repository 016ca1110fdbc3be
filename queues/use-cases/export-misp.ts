import { randomUUID } from 'node:crypto';
import type { StixExportQuery } from '../../src/domain/api/ioc-search.js';
import { mispAttribute } from '../../src/domain/misp.js';
import type { IocSearch } from '../../src/stores/hot/ioc-search.js';
import { exportIocs } from './export-iocs.js';

/**
 * The IOCs matching a filter as one MISP event (MISP's JSON import format: `{"Event": {…,
 * "Attribute": […]}}`), streamed page by page; when more than `limit` match, the document
 * ends with `x_stowage_next_cursor` beside the event.
 */
export function exportMisp(
  query: StixExportQuery,
  deps: { search: Pick<IocSearch, 'search'> },
  now: Date = new Date(),
): Promise<AsyncGenerator<string>> {
  const event = {
    uuid: randomUUID(),
    info: 'Stowage IOC export',
    date: now.toISOString().slice(0, 10),
    timestamp: String(Math.floor(now.getTime() / 1000)),
    // MISP's codes: threat level 4 undefined, analysis 2 completed, distribution 0 your
    // organisation only (the importer widens it if it wants to share).
    threat_level_id: '4',
    analysis: '2',
    distribution: '0',
    published: false,
  };
  const head = JSON.stringify({ Event: { ...event, Attribute: [] } });
  return exportIocs(query, deps, {
    // The event's fields, then its attribute array left open for the items.
    head: head.slice(0, head.length - '[]}}'.length) + '[',
    item: mispAttribute,
    tail: (next) =>
      next === undefined ? ']}}' : `]},"x_stowage_next_cursor":${JSON.stringify(next)}}`,
  });
}
