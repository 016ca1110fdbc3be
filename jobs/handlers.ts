import type { Deps } from '../src/deps.js';
import type { HandlerFactory } from './job-definition.js';
import type { JobNameOf } from './job-registry.js';
import type { JOB_DEFINITIONS } from './registry.js';

type Definitions = typeof JOB_DEFINITIONS;

/** The handler factory of every registered job type; a type without one does not compile. */
export const HANDLER_FACTORIES = {} satisfies Record<
  JobNameOf<Definitions>,
  HandlerFactory<never, Deps>
>;

/** Builds every handler from the process's dependencies. */
export function createHandlers(
  deps: Deps,
): Record<string, ReturnType<HandlerFactory<never, Deps>>> {
  return Object.fromEntries(
    Object.entries(HANDLER_FACTORIES as Record<string, HandlerFactory<never, Deps>>).map(
      ([name, factory]) => [name, factory(deps)],
    ),
  );
}
