import type { AnyJobDefinition, OperatorActions } from './job-definition.js';

/** A definition an operator may run now (`operator.runNow`). */
export type MaintenanceDefinition = AnyJobDefinition & { readonly operator: OperatorActions };

/**
 * The job types an operator may run now, outside their schedule, in registry order: the
 * maintenance route, `stowage run` and the OpenAPI document list these.
 */
export function maintenanceJobs(definitions: readonly AnyJobDefinition[]): MaintenanceDefinition[] {
  return definitions.filter((d): d is MaintenanceDefinition => d.operator?.runNow === true);
}
