import type { AnyJobDefinition, Handler } from './job-definition.js';
import type { WorkerResources } from './worker-resources.js';

/** A job type: its definition and how a worker builds its handler. */
export interface JobType<D extends AnyJobDefinition> {
  readonly definition: D;
  /**
   * Builds the handler from the worker's resources. Async: handler modules are imported
   * here, so the api and the CLI never load handler code or the SDKs it uses.
   */
  readonly createHandler: (resources: WorkerResources) => Promise<Handler<D>>;
}

/** Pairs a definition with its handler factory, typed by the definition's payload. */
export function jobType<const D extends AnyJobDefinition>(
  definition: D,
  createHandler: (resources: WorkerResources) => Promise<Handler<D>>,
): JobType<D> {
  return { definition, createHandler };
}

/** A job type of any definition, as a table holds it. */
export interface AnyJobType {
  readonly definition: AnyJobDefinition;
  readonly createHandler: (resources: WorkerResources) => Promise<Handler<never>>;
}

/** The definitions of a table of job types, in order. */
export type DefinitionsOf<Types extends readonly AnyJobType[]> = {
  readonly [K in keyof Types]: Types[K]['definition'];
};

/** Builds the handlers of the given types (by name) from a worker's resources. */
export async function createHandlers(
  types: readonly AnyJobType[],
  resources: WorkerResources,
): Promise<Record<string, Handler<never>>> {
  const entries = await Promise.all(
    types.map(async (t) => [t.definition.name, await t.createHandler(resources)] as const),
  );
  return Object.fromEntries(entries);
}

/** The definitions of a table of job types, keeping each one's literal type. */
export function definitionsOf<const Types extends readonly AnyJobType[]>(
  types: Types,
): DefinitionsOf<Types> {
  // map() forgets the tuple; each element is still the definition of the type at its index.
  return types.map((t) => t.definition) as unknown as DefinitionsOf<Types>;
}
