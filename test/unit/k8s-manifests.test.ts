/**
 * The Kubernetes manifests (deploy/k8s) checked against the configuration schema, the CLI
 * and BullMQ's key layout, without a cluster: every document parsed with `yaml`, every
 * container's environment resolved from its ConfigMap, Secret and env the way the kubelet
 * does, and each KEDA ScaledObject held to the queues its worker Deployment serves.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QueueKeys } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  CONFIG_KEYS,
  ConfigError,
  QUEUE_NAMES,
  loadConfig,
  type Config,
} from '../../src/config.js';
import { scheduleVariableDocs } from '../../jobs/job-schedules.js';
import { JOB_DEFINITIONS } from '../../jobs/registry.js';

const K8S_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'deploy', 'k8s');
const PROCESS_COMMANDS = ['api', 'worker', 'scheduler', 'dashboard'];
/** Keys that are credentials, or carry one (a password inside a URL). */
const CREDENTIALS = [
  'API_KEYS',
  'REDIS_URL',
  'CACHE_REDIS_URL',
  'DATABASE_URL',
  'CLICKHOUSE_PASSWORD',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
];
// SCHEDULE_<KEY> variables are declared by the scheduled job definitions, not the schema.
const KNOWN_KEYS: ReadonlySet<string> = new Set([
  ...CONFIG_KEYS,
  ...scheduleVariableDocs(JOB_DEFINITIONS).map((s) => s.variable),
]);

type Dict = Record<string, unknown>;
type Env = Record<string, string>;

function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A path into a document, or undefined when any step is missing. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const step of path) {
    if (Array.isArray(current) && typeof step === 'number') current = current[step];
    else if (isDict(current) && typeof step === 'string') current = current[step];
    else return undefined;
  }
  return current;
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const str = (value: unknown): string => (typeof value === 'string' ? value : '');

interface Manifest {
  file: string;
  doc: Dict;
  kind: string;
  name: string;
}

const files = readdirSync(K8S_DIR)
  .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
  .sort();
const manifests: Manifest[] = files
  .filter((f) => f !== 'kustomization.yaml')
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8')).map((parsed) => {
      if (parsed.errors.length > 0) throw new Error(`${file}: ${parsed.errors[0]?.message}`);
      const doc = parsed.toJS() as unknown;
      if (!isDict(doc)) throw new Error(`${file}: a document that is not a mapping`);
      return { file, doc, kind: str(doc['kind']), name: str(at(doc, 'metadata', 'name')) };
    }),
  );
const kustomization = parseAllDocuments(
  readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8'),
)[0]?.toJS() as Dict;

const ofKind = (kind: string) => manifests.filter((m) => m.kind === kind);
function named(kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

/** Deployments and the init Job: everything that runs the stowage image. */
const workloads = manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'Job');
const deployments = ofKind('Deployment');

function containers(m: Manifest): Dict[] {
  return list(at(m.doc, 'spec', 'template', 'spec', 'containers')).filter(isDict);
}

/** The one container of a workload (each Stowage pod runs one process). */
function container(m: Manifest): Dict {
  const [only, ...rest] = containers(m);
  if (!only || rest.length > 0) throw new Error(`${m.name}: expected exactly one container`);
  return only;
}

/** What a ConfigMap or Secret puts into the environment; stringData wins over data. */
function entriesOf(m: Manifest): Dict {
  if (m.kind === 'ConfigMap') return isDict(m.doc['data']) ? m.doc['data'] : {};
  const data = isDict(m.doc['data'])
    ? Object.fromEntries(
        Object.entries(m.doc['data']).map(([k, v]) => [
          k,
          Buffer.from(str(v), 'base64').toString('utf8'),
        ]),
      )
    : {};
  return { ...data, ...(isDict(m.doc['stringData']) ? m.doc['stringData'] : {}) };
}

/** A container's environment as the kubelet builds it: envFrom in order, then env. */
function resolveEnv(c: Dict): { env: Env; problems: string[] } {
  const env: Env = {};
  const problems: string[] = [];
  for (const source of list(c['envFrom'])) {
    const configMap = str(at(source, 'configMapRef', 'name'));
    const secret = str(at(source, 'secretRef', 'name'));
    const ref = configMap
      ? manifests.find((m) => m.kind === 'ConfigMap' && m.name === configMap)
      : manifests.find((m) => m.kind === 'Secret' && m.name === secret);
    if (!ref) {
      problems.push(
        `envFrom names a missing ${configMap ? 'ConfigMap' : 'Secret'} ${configMap || secret}`,
      );
      continue;
    }
    for (const [key, value] of Object.entries(entriesOf(ref))) {
      if (typeof value !== 'string') problems.push(`${ref.name}.${key} is not a string`);
      else env[key] = value;
    }
  }
  for (const entry of list(c['env'])) {
    const name = str(at(entry, 'name'));
    const value = at(entry, 'value');
    if (typeof value !== 'string') problems.push(`env ${name} has no string value`);
    else env[name] = value;
  }
  return { env, problems };
}

/** The Secret's CHANGE-ME placeholders replaced by distinct random-looking values, as an operator fills them in. */
function filled(env: Env): Env {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, fill(v)]));
}

/** One value with its CHANGE-ME placeholders filled in (the same placeholder, the same value). */
function fill(value: string): string {
  return value.replace(/CHANGE-ME-[A-Za-z0-9-]*/g, (p) =>
    createHash('sha256').update(p).digest('hex').slice(0, 40),
  );
}

function configOf(m: Manifest): Config {
  return loadConfig(filled(resolveEnv(container(m)).env));
}

const commandOf = (m: Manifest): string[] => list(container(m)['args']).map(String);

/** The queues a worker Deployment serves: `--queues` wins over WORKER_QUEUES, as in src/cli.ts. */
function queuesOf(m: Manifest): string[] {
  const args = commandOf(m);
  const flag = args.indexOf('--queues');
  const fromArgs =
    flag >= 0 ? args[flag + 1] : args.find((a) => a.startsWith('--queues='))?.slice(9);
  return fromArgs !== undefined
    ? fromArgs
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean)
    : configOf(m).workerQueues;
}

const workers = deployments.filter((m) => commandOf(m)[0] === 'worker');

/** A named or numbered container port, as a number. */
function portNumber(c: Dict, port: unknown): number {
  if (typeof port === 'number') return port;
  const found = list(c['ports']).find((p) => at(p, 'name') === port);
  return Number(at(found, 'containerPort'));
}

describe('deploy/k8s', () => {
  it('gives every document apiVersion, kind and metadata.name', () => {
    expect(manifests.length).toBeGreaterThan(10);
    const missing = manifests
      .filter((m) => !str(m.doc['apiVersion']) || !m.kind || !m.name)
      .map((m) => `${m.file}: ${m.kind || '(no kind)'} ${m.name || '(no name)'}`);
    expect(missing).toEqual([]);
  });

  it('lists every manifest file in kustomization.yaml, and only those', () => {
    const resources = list(kustomization['resources']).map(String).sort();
    expect(resources).toEqual(files.filter((f) => f !== 'kustomization.yaml'));
  });

  it('puts everything in the one Namespace it creates', () => {
    const [namespace, ...others] = ofKind('Namespace');
    expect(namespace).toBeDefined();
    expect(others).toEqual([]);
    expect(kustomization['namespace']).toBe(namespace?.name);
    for (const m of manifests.filter((x) => x.kind !== 'Namespace'))
      expect(at(m.doc, 'metadata', 'namespace'), `${m.kind} ${m.name}`).toBe(namespace?.name);
  });

  it('runs the stowage image with a CLI subcommand, each process at least once', () => {
    const images = list(kustomization['images']).map((i) => str(at(i, 'name')));
    const seen = new Set<string>();
    for (const m of workloads) {
      const c = container(m);
      expect(images, `${m.name} image`).toContain(c['image']);
      // no command: the image's ENTRYPOINT, node dist/src/cli.js
      expect(c['command'], `${m.name} command`).toBeUndefined();
      const subcommand = commandOf(m)[0] ?? '';
      expect(m.kind === 'Job' ? ['init'] : PROCESS_COMMANDS, `${m.name} args`).toContain(
        subcommand,
      );
      seen.add(subcommand);
    }
    for (const command of [...PROCESS_COMMANDS, 'init']) expect(seen).toContain(command);
  });

  it('sets only configuration keys, from ConfigMaps and Secrets that exist, with string values', () => {
    const problems: string[] = [];
    const unknown: string[] = [];
    for (const m of workloads) {
      const resolved = resolveEnv(container(m));
      problems.push(...resolved.problems.map((p) => `${m.name}: ${p}`));
      for (const key of Object.keys(resolved.env))
        if (!KNOWN_KEYS.has(key)) unknown.push(`${m.name}: ${key}`);
    }
    expect(problems).toEqual([]);
    expect(unknown, 'variables not in CONFIG_KEYS').toEqual([]);
  });

  it('gives every workload an environment loadConfig() accepts', () => {
    const rejected: string[] = [];
    for (const m of workloads) {
      try {
        configOf(m);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        rejected.push(`${m.name}: ${err.problems.join('; ')}`);
      }
    }
    expect(rejected).toEqual([]);
  });

  it('does not start in production until every CHANGE-ME placeholder of the Secret is replaced', () => {
    const api = workloads.find((m) => commandOf(m)[0] === 'api');
    if (!api) throw new Error('no api workload');
    const env = resolveEnv(container(api)).env;
    expect(env['NODE_ENV']).toBe('production');
    let problems: string[] = [];
    try {
      loadConfig(env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(
      [...CREDENTIALS, 'API_KEYS'].sort(),
    );
    expect(problems.join('\n')).not.toMatch(/CHANGE-ME-/);
  });

  it('listens on every interface inside the pod (API_HOST=0.0.0.0)', () => {
    for (const m of workloads) expect(configOf(m).API_HOST, m.name).toBe('0.0.0.0');
  });

  it('keeps credentials in the Secret, not the ConfigMap', () => {
    const config = named('ConfigMap', 'stowage-config');
    const secret = named('Secret', 'stowage-secrets');
    expect(Object.keys(entriesOf(config)).filter((k) => CREDENTIALS.includes(k))).toEqual([]);
    for (const key of CREDENTIALS) expect(Object.keys(entriesOf(secret))).toContain(key);
  });

  it('serves every queue from exactly one worker Deployment, scaled by KEDA alone', () => {
    const served = workers.flatMap(queuesOf).sort();
    expect(served).toEqual([...QUEUE_NAMES].sort());
    for (const m of workers) expect(at(m.doc, 'spec', 'replicas'), m.name).toBeUndefined();
  });

  it("scales each worker Deployment on the ready jobs of each queue it serves: the wait list, or a fair queue's prioritized set", () => {
    const scaledObjects = ofKind('ScaledObject');
    expect(scaledObjects.map((s) => at(s.doc, 'spec', 'scaleTargetRef', 'name')).sort()).toEqual(
      workers.map((w) => w.name).sort(),
    );
    for (const so of scaledObjects) {
      const targetName = str(at(so.doc, 'spec', 'scaleTargetRef', 'name'));
      expect(at(so.doc, 'spec', 'scaleTargetRef', 'kind') ?? 'Deployment').toBe('Deployment');
      const target = named('Deployment', targetName);
      const config = configOf(target);
      const keys = new QueueKeys(config.QUEUE_PREFIX);
      const min = Number(at(so.doc, 'spec', 'minReplicaCount'));
      expect(min, so.name).toBeGreaterThanOrEqual(1);
      expect(Number(at(so.doc, 'spec', 'maxReplicaCount')), so.name).toBeGreaterThanOrEqual(min);

      const all = list(at(so.doc, 'spec', 'triggers'));
      const served = queuesOf(target);
      const fair = served.filter((q) => (config.fairQueues as readonly string[]).includes(q));
      // A fair queue's ready jobs sit in BullMQ's prioritized set, invisible to LLEN.
      const queries = all
        .filter((t) => at(t, 'type') === 'prometheus')
        .map((t) => str(at(t, 'metadata', 'query')));
      expect(queries.length, so.name).toBe(fair.length);
      for (const q of fair) {
        const query = queries.find((x) => x.includes(`queue="${q}"`));
        expect(query, `${so.name} ${q}`).toMatch(
          /^sum\(stowage_queue_jobs\{queue="[a-z]+",state=~"[a-z|]+"\}\)$/,
        );
        expect(query, `${so.name} ${q}`).toMatch(/prioritized/);
        expect(query, `${so.name} ${q}`).toMatch(/waiting/);
      }
      const triggers = all.filter((t) => at(t, 'type') !== 'prometheus');
      const lists = triggers.map((t) => str(at(t, 'metadata', 'listName'))).sort();
      expect(lists, so.name).toEqual(
        served
          .filter((q) => !fair.includes(q))
          .map((q) => keys.toKey(q, 'wait'))
          .sort(),
      );
      const redis = new URL(config.REDIS_URL);
      for (const trigger of triggers) {
        expect(at(trigger, 'type'), so.name).toBe('redis');
        const threshold = str(at(trigger, 'metadata', 'listLength'));
        expect(threshold, `${so.name} listLength is a quoted positive integer`).toMatch(
          /^[1-9]\d*$/,
        );
        // the Redis the workers take their jobs from
        expect(at(trigger, 'metadata', 'address'), so.name).toBe(
          `${redis.hostname}:${redis.port || '6379'}`,
        );
        const auth = named('TriggerAuthentication', str(at(trigger, 'authenticationRef', 'name')));
        const ref = list(at(auth.doc, 'spec', 'secretTargetRef')).find(
          (r) => at(r, 'parameter') === 'password',
        );
        const secret = named('Secret', str(at(ref, 'name')));
        expect(fill(str(entriesOf(secret)[str(at(ref, 'key'))])), `${auth.name} password`).toBe(
          decodeURIComponent(redis.password),
        );
      }
    }
  });

  it('probes the api on /health (liveness) and /ready (readiness), on its API_PORT', () => {
    const api = deployments.find((m) => commandOf(m)[0] === 'api');
    if (!api) throw new Error('no api Deployment');
    const c = container(api);
    expect(at(c, 'livenessProbe', 'httpGet', 'path')).toBe('/health');
    expect(at(c, 'readinessProbe', 'httpGet', 'path')).toBe('/ready');
    expect(portNumber(c, at(c, 'livenessProbe', 'httpGet', 'port'))).toBe(configOf(api).API_PORT);
    expect(portNumber(c, at(c, 'readinessProbe', 'httpGet', 'port'))).toBe(configOf(api).API_PORT);
  });

  it('points every HTTP probe at /health or /ready on the port its process listens on', () => {
    for (const m of deployments) {
      const c = container(m);
      const listens =
        commandOf(m)[0] === 'dashboard' ? configOf(m).DASHBOARD_PORT : configOf(m).API_PORT;
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const get = at(c, probe, 'httpGet');
        if (get === undefined) continue;
        // the standalone dashboard has no /ready
        const paths = commandOf(m)[0] === 'api' ? ['/health', '/ready'] : ['/health'];
        expect(paths, `${m.name} ${probe}`).toContain(at(get, 'path'));
        expect(portNumber(c, at(get, 'port')), `${m.name} ${probe}`).toBe(listens);
      }
    }
  });

  it('announces /metrics to Prometheus on the port each process serves it, named in its container', () => {
    for (const m of deployments) {
      const command = commandOf(m)[0];
      if (command === 'scheduler') continue; // no listener
      const config = configOf(m);
      const serves =
        command === 'worker'
          ? config.WORKER_METRICS_PORT
          : command === 'dashboard'
            ? config.DASHBOARD_PORT
            : config.API_PORT;
      const annotations = at(m.doc, 'spec', 'template', 'metadata', 'annotations');
      expect(at(annotations, 'prometheus.io/scrape'), m.name).toBe('true');
      expect(at(annotations, 'prometheus.io/path'), m.name).toBe('/metrics');
      expect(Number(at(annotations, 'prometheus.io/port')), m.name).toBe(serves);
      const ports = list(container(m)['ports']).map((p) => Number(at(p, 'containerPort')));
      expect(ports, m.name).toContain(serves);
    }
  });

  it('sends each Service to a port its pods name', () => {
    for (const service of ofKind('Service')) {
      const selector = at(service.doc, 'spec', 'selector');
      const target = deployments.find(
        (d) =>
          JSON.stringify(at(d.doc, 'spec', 'template', 'metadata', 'labels')) ===
          JSON.stringify(selector),
      );
      if (!target) throw new Error(`Service ${service.name} selects no Deployment`);
      for (const port of list(at(service.doc, 'spec', 'ports'))) {
        expect(portNumber(container(target), at(port, 'targetPort')), service.name).toBeGreaterThan(
          0,
        );
      }
    }
  });

  it('gives every pod longer to stop than SHUTDOWN_GRACE_MS', () => {
    for (const m of deployments) {
      // Kubernetes' default is 30 s
      const grace = Number(
        at(m.doc, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds') ?? 30,
      );
      expect(grace * 1000, m.name).toBeGreaterThan(configOf(m).SHUTDOWN_GRACE_MS);
    }
  });

  it('mounts one ReadWriteMany spool at SPOOL_DIR in the api and the artifacts worker', () => {
    const [claim, ...others] = ofKind('PersistentVolumeClaim');
    expect(others).toEqual([]);
    expect(at(claim?.doc, 'spec', 'accessModes')).toContain('ReadWriteMany');
    const needSpool = deployments.filter(
      (m) =>
        commandOf(m)[0] === 'api' || (workers.includes(m) && queuesOf(m).includes('artifacts')),
    );
    expect(needSpool.length).toBe(2);
    for (const m of needSpool) {
      const volume = list(at(m.doc, 'spec', 'template', 'spec', 'volumes')).find(
        (v) => at(v, 'persistentVolumeClaim', 'claimName') === claim?.name,
      );
      expect(volume, `${m.name} volume`).toBeDefined();
      const mount = list(container(m)['volumeMounts']).find(
        (v) => at(v, 'name') === at(volume, 'name'),
      );
      expect(at(mount, 'mountPath'), m.name).toBe(configOf(m).SPOOL_DIR);
    }
  });

  it('sets CPU and memory requests and a memory limit on every container', () => {
    for (const m of workloads) {
      const resources = container(m)['resources'];
      expect(at(resources, 'requests', 'cpu'), m.name).toBeDefined();
      expect(at(resources, 'requests', 'memory'), m.name).toBeDefined();
      expect(at(resources, 'limits', 'memory'), m.name).toBeDefined();
    }
  });
});
