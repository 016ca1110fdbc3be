import { randomUUID } from 'node:crypto';
import { MAX_SEARCH_LIMIT, type StixExportQuery } from '../../src/domain/api/ioc-search.js';
import { stixIndicator } from '../../src/domain/stix.js';
import type { IocKeyCursor, IocPage, IocSearch } from '../../src/stores/hot/ioc-search.js';
import { decodeSearchCursor, encodeSearchCursor, filterOf } from './search-iocs.js';

/**
 * The IOCs matching a filter as a STIX 2.1 bundle, in text chunks (one per page of
 * MAX_SEARCH_LIMIT), so that no more than a page is in memory. At most `limit` indicators;
 * when more match, the bundle ends with `x_stowage_next_cursor`, the `cursor` of the export
 * that continues it. The first page is read before this returns, so a bad cursor or a
 * store that is down fails the request (400, 503) instead of cutting a started body.
 */
export async function exportStix(
  query: StixExportQuery,
  deps: { search: Pick<IocSearch, 'search'> },
): Promise<AsyncGenerator<string>> {
  const filter = filterOf(query);
  const start = query.cursor === undefined ? undefined : decodeSearchCursor(query.cursor);
  const read = (after: IocKeyCursor | undefined, written: number): Promise<IocPage> =>
    deps.search.search(filter, {
      limit: Math.min(MAX_SEARCH_LIMIT, query.limit - written),
      ...(after ? { after } : {}),
    });
  const first = await read(start, 0);
  return (async function* chunks() {
    yield `{"type":"bundle","id":"bundle--${randomUUID()}","objects":[`;
    let page = first;
    let written = 0;
    for (;;) {
      const objects = page.items.map((ioc) => JSON.stringify(stixIndicator(ioc)));
      if (objects.length > 0) yield (written === 0 ? '' : ',') + objects.join(',');
      written += objects.length;
      if (page.next === undefined || written >= query.limit) break;
      page = await read(page.next, written);
    }
    yield page.next === undefined
      ? ']}'
      : `],"x_stowage_next_cursor":${JSON.stringify(encodeSearchCursor(page.next))}}`;
  })();
}
