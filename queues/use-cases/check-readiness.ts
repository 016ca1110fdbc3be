/** One backend's answer to a readiness ping. */
export interface BackendCheck {
  name: string;
  ok: boolean;
  error?: string;
}

/** Whether every backend answers, each one's state, and the ones that are down. */
export interface Readiness {
  ready: boolean;
  backends: Record<string, 'up' | 'down'>;
  down: { name: string; error: string }[];
}

/** Pings every backend this process uses and says which are up. */
export async function checkReadiness(deps: {
  checkBackends: () => Promise<BackendCheck[]>;
}): Promise<Readiness> {
  const results = await deps.checkBackends();
  const down = results.filter((r) => !r.ok);
  return {
    ready: down.length === 0,
    backends: Object.fromEntries(results.map((r) => [r.name, r.ok ? 'up' : 'down'])),
    down: down.map((d) => ({ name: d.name, error: d.error ?? 'no answer' })),
  };
}
