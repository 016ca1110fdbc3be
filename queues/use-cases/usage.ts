import type { z } from 'zod';
import type { usageReportSchema } from '../../src/domain/api/usage.js';
import { ForbiddenError } from '../../src/errors/index.js';
import type { RedisUsageStore } from '../../src/stores/redis/usage-store.js';

/** Who asks for usage: their tenant, and whether they are an admin. */
export interface UsageCaller {
  tenant: string;
  admin: boolean;
}

/**
 * Usage per tenant and UTC day: a key sees its own tenant; an admin every tenant, or the one
 * it names. Naming another tenant without admin is a ForbiddenError.
 */
export async function readUsage(
  usage: Pick<RedisUsageStore, 'days'>,
  caller: UsageCaller,
  query: { days: number; tenant?: string | undefined },
): Promise<z.input<typeof usageReportSchema>> {
  if (!caller.admin && query.tenant !== undefined && query.tenant !== caller.tenant) {
    throw new ForbiddenError(
      `only an admin key sees the usage of another tenant than "${caller.tenant}"`,
    );
  }
  const tenant = caller.admin ? query.tenant : caller.tenant;
  return { days: await usage.days(query.days, tenant) };
}
