import type { QueueName } from '../src/config.js';
import type { AnyJobDefinition } from './job-definition.js';

/** The definition named N among Defs. */
export type DefinitionNamed<Defs extends readonly AnyJobDefinition[], N> = Extract<
  Defs[number],
  { name: N }
>;

/** Names of the job types of a registry. */
export type JobNameOf<Defs extends readonly AnyJobDefinition[]> = Defs[number]['name'];

/** The job types a process knows, looked up by name. */
export class JobRegistry<Defs extends readonly AnyJobDefinition[] = readonly AnyJobDefinition[]> {
  private readonly byName = new Map<string, AnyJobDefinition>();

  constructor(readonly definitions: Defs) {
    for (const definition of definitions) {
      if (this.byName.has(definition.name)) {
        throw new Error(`job type "${definition.name}" is registered twice`);
      }
      this.byName.set(definition.name, definition);
    }
  }

  /** The definition of a name, or undefined when no such type is registered. */
  get(name: string): AnyJobDefinition | undefined {
    return this.byName.get(name);
  }

  /** Every registered name. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** The types served by a queue. */
  forQueue(queue: QueueName): AnyJobDefinition[] {
    return this.definitions.filter((d) => d.queue === queue);
  }

  /** The queues at least one type uses. */
  queues(): QueueName[] {
    return [...new Set(this.definitions.map((d) => d.queue))];
  }
}
