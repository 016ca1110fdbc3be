import { MAX_SEARCH_LIMIT, type StixExportQuery } from '../../src/domain/api/ioc-search.js';
import type { StoredIoc } from '../../src/domain/ioc.js';
import type { IocKeyCursor, IocPage, IocSearch } from '../../src/stores/hot/ioc-search.js';
import { decodeSearchCursor, encodeSearchCursor, filterOf } from './search-iocs.js';

/** How an export format wraps its items: a JSON document whose one array holds them. */
export interface IocExportFormat {
  /** Everything before the first item (ends with the array's `[`). */
  head: string;
  /** One IOC as a JSON value. */
  item(ioc: StoredIoc): unknown;
  /** Everything after the last item; `next` the cursor that continues the export, if any. */
  tail(next: string | undefined): string;
}

/**
 * The IOCs matching a filter as one JSON document, in text chunks (one per page of
 * MAX_SEARCH_LIMIT), so that no more than a page is in memory. At most `limit` items; when
 * more match, the format's tail carries the `cursor` of the export that continues it. The
 * first page is read before this returns, so a bad cursor or a store that is down fails the
 * request (400, 503) instead of cutting a started body.
 */
export async function exportIocs(
  query: StixExportQuery,
  deps: { search: Pick<IocSearch, 'search'> },
  format: IocExportFormat,
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
    yield format.head;
    let page = first;
    let written = 0;
    for (;;) {
      const items = page.items.map((ioc) => JSON.stringify(format.item(ioc)));
      if (items.length > 0) yield (written === 0 ? '' : ',') + items.join(',');
      written += items.length;
      if (page.next === undefined || written >= query.limit) break;
      page = await read(page.next, written);
    }
    yield format.tail(page.next === undefined ? undefined : encodeSearchCursor(page.next));
  })();
}
