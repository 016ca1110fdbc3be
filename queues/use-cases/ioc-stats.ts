import type { IocStatsView } from '../../src/domain/api/ioc-search.js';
import type { IocSearch } from '../../src/stores/hot/ioc-search.js';

/** Counts of the hot store's IOCs per type, threat type and confidence bucket. */
export async function iocStats(deps: { search: Pick<IocSearch, 'stats'> }): Promise<IocStatsView> {
  const stats = await deps.search.stats();
  return {
    total: stats.total,
    by_type: stats.byType,
    by_threat_type: stats.byThreatType,
    by_confidence: stats.byConfidence.map((count, i) => ({
      from: i / 10,
      to: (i + 1) / 10,
      count,
    })),
  };
}
