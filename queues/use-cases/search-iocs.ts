import { toIocView } from '../../src/domain/api/iocs.js';
import {
  MAX_SEARCH_COUNT,
  type IocSearchPage,
  type IocSearchQuery,
  type StixExportQuery,
} from '../../src/domain/api/ioc-search.js';
import { IOC_TYPES } from '../../src/domain/ioc.js';
import { ValidationError } from '../../src/errors/index.js';
import type { IocFilter, IocKeyCursor, IocSearch } from '../../src/stores/hot/ioc-search.js';

// A cursor is the last key of a page, versioned so that a later order can refuse old ones.
const CURSOR_VERSION = 'k1';

/** The opaque cursor of a key: base64url of `["k1", type, value]`. */
export function encodeSearchCursor(key: IocKeyCursor): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, key.type, key.value])).toString('base64url');
}

/** The key of a cursor; a ValidationError naming `cursor` when it is not one of ours. */
export function decodeSearchCursor(cursor: string): IocKeyCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.length === 3 && parsed[0] === CURSOR_VERSION) {
    const [, type, value] = parsed as unknown[];
    const known = IOC_TYPES.find((t) => t === type);
    if (known !== undefined && typeof value === 'string') return { type: known, value };
  }
  throw new ValidationError(
    [{ path: 'cursor', message: 'not a cursor this api returned' }],
    'invalid cursor',
  );
}

/** The store filter of a validated query. */
export function filterOf(query: IocSearchQuery | StixExportQuery): IocFilter {
  const filter: IocFilter = {};
  if (query.type !== undefined) filter.type = query.type;
  if (query.threat_type !== undefined) filter.threatType = query.threat_type;
  if (query.min_confidence !== undefined) filter.minConfidence = query.min_confidence;
  if (query.max_confidence !== undefined) filter.maxConfidence = query.max_confidence;
  if (query.source !== undefined) filter.source = query.source;
  if (query.tag !== undefined) filter.tag = query.tag;
  if (query.cidr !== undefined) filter.cidr = query.cidr;
  if (query.seen_since !== undefined) filter.seenSince = query.seen_since;
  if (query.seen_until !== undefined) filter.seenUntil = query.seen_until;
  return filter;
}

/**
 * One page of IOCs matching a filter, in (type, value) order, and the cursor of the next.
 * With `count`, also how many match (counted up to MAX_SEARCH_COUNT).
 */
export async function searchIocs(
  query: IocSearchQuery,
  deps: { search: Pick<IocSearch, 'search' | 'count'> },
): Promise<IocSearchPage> {
  const filter = filterOf(query);
  const after = query.cursor === undefined ? undefined : decodeSearchCursor(query.cursor);
  const [page, count] = await Promise.all([
    deps.search.search(filter, { limit: query.limit, ...(after ? { after } : {}) }),
    query.count === true ? deps.search.count(filter, MAX_SEARCH_COUNT) : undefined,
  ]);
  return {
    items: page.items.map(toIocView),
    next_cursor: page.next === undefined ? null : encodeSearchCursor(page.next),
    ...(count === undefined ? {} : { count: count.count, count_capped: count.capped }),
  };
}
