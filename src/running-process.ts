/** A started Stowage process (api, worker, scheduler, dashboard) that can be stopped gracefully. */
export interface RunningProcess {
  readonly name: string;
  stop(): Promise<void>;
}
