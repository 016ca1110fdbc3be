/**
 * The deployment files (docker-compose.yml, .env.example, deploy/Dockerfile) checked
 * against the configuration schema in src/config.ts, the single source of truth for
 * environment variables. Nothing here needs a Docker daemon; the compose check needs the
 * docker-compose binary (scripts/install-deps.sh installs it) and fails without it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_KEYS, ConfigError, configSchema, loadConfig } from '../../src/config.js';
import { scheduleVariableDocs } from '../../jobs/job-schedules.js';
import { JOB_DEFINITIONS } from '../../jobs/registry.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const ENV_EXAMPLE = join(ROOT, '.env.example');
const DOCKERFILE = join(ROOT, 'deploy', 'Dockerfile');
const DOCKERIGNORE = join(ROOT, '.dockerignore');
const STOWAGE_DOCKERFILE = 'deploy/Dockerfile';
const CLI_SUBCOMMANDS = ['api', 'worker', 'scheduler', 'dashboard', 'up', 'init'];

/** The SCHEDULE_<KEY> variables the job definitions declare (not in the schema). */
const SCHEDULE_DOCS = scheduleVariableDocs(JOB_DEFINITIONS);
const KNOWN_KEYS: ReadonlySet<string> = new Set([
  ...CONFIG_KEYS,
  ...SCHEDULE_DOCS.map((s) => s.variable),
]);

type Dict = Record<string, unknown>;
type Env = Record<string, string | undefined>;

function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asDict(value: unknown, what: string): Dict {
  if (!isDict(value)) throw new Error(`${what} must be a mapping`);
  return value;
}

/** loadConfig's problems as text, or null when it accepts the environment. */
function configProblems(env: Env): string | null {
  try {
    loadConfig(env);
    return null;
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.join('; ');
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------

/**
 * What an operator exports before `docker compose up`: the file has no default API key (a
 * shipped one would be a known secret), so `${API_KEYS:?…}` needs one.
 */
const OPERATOR_ENV = {
  API_KEYS: 'ops-admin:3b9f0c1e7d2a4f6b8c0e2d4f6a8b0c1d3e5f7a9b1c3d5e7f:admin',
};

/**
 * Compose variable substitution from OPERATOR_ENV only (never the host's): `${X}`, `${X:?e}`
 * → X's value; `${X:-d}`/`${X-d}` → d when X is unset; `$$` → `$`.
 */
function interpolate(value: string): string {
  const given: Record<string, string> = OPERATOR_ENV;
  return value
    .replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-|:?\?)([^}]*))?\}/g,
      (_m, name: string, op?: string, rest?: string) => {
        const set = given[name];
        if (set !== undefined) return set;
        if (op?.includes('?')) throw new Error(`compose needs ${name}: ${rest ?? ''}`);
        return rest ?? '';
      },
    )
    .replace(/\$\$/g, '$');
}

/** KEY=VALUE lines of a dotenv file; `# KEY=` lines are reported as commented. */
function parseDotenv(text: string): {
  set: Map<string, string>;
  commented: Set<string>;
  duplicates: string[];
  lines: string[];
} {
  const set = new Map<string, string>();
  const commented = new Set<string>();
  const duplicates: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const line of lines) {
    const active = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (active) {
      const [, key = '', raw = ''] = active;
      if (set.has(key) || commented.has(key)) duplicates.push(key);
      set.set(key, unquote(raw.trim()));
      continue;
    }
    const off = /^#\s*([A-Z][A-Z0-9_]*)=/.exec(line);
    if (off) {
      const key = off[1] ?? '';
      if (set.has(key) || commented.has(key)) duplicates.push(key);
      commented.add(key);
    }
  }
  return { set, commented, duplicates, lines };
}

function unquote(value: string): string {
  const quoted = /^"(.*)"$/.exec(value) ?? /^'(.*)'$/.exec(value);
  return quoted ? (quoted[1] ?? '') : value;
}

/** A service's environment as compose resolves it (map or list form, plus env_file). */
function serviceEnv(name: string, service: Dict): { env: Env; problems: string[] } {
  const env: Env = {};
  const problems: string[] = [];
  const envFiles = service['env_file'];
  for (const file of envFiles === undefined
    ? []
    : Array.isArray(envFiles)
      ? envFiles
      : [envFiles]) {
    if (typeof file !== 'string') {
      problems.push(`${name}: env_file entries must be paths`);
      continue;
    }
    for (const [key, value] of parseDotenv(readFileSync(join(ROOT, file), 'utf8')).set)
      env[key] = value;
  }
  const raw = service['environment'];
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      if (typeof entry !== 'string') {
        problems.push(`${name}: environment entry ${JSON.stringify(entry)} is not KEY=VALUE`);
        continue;
      }
      const eq = entry.indexOf('=');
      if (eq === -1) env[entry] = undefined;
      else env[entry.slice(0, eq)] = interpolate(entry.slice(eq + 1));
    }
  } else if (isDict(raw)) {
    for (const [key, value] of Object.entries(raw)) {
      if (value === null) env[key] = undefined;
      else if (typeof value === 'string') env[key] = interpolate(value);
      else if (typeof value === 'number') env[key] = String(value);
      else problems.push(`${name}: ${key} is a ${typeof value}; compose wants a string (quote it)`);
    }
  } else if (raw !== undefined) {
    problems.push(`${name}: environment must be a mapping or a list`);
  }
  return { env, problems };
}

function commandOf(service: Dict): string[] {
  const command = service['command'];
  if (typeof command === 'string') return command.trim().split(/\s+/);
  if (Array.isArray(command)) return command.map(String);
  return [];
}

function dependsOn(service: Dict): Map<string, string> {
  const raw = service['depends_on'];
  const out = new Map<string, string>();
  if (Array.isArray(raw)) for (const target of raw) out.set(String(target), 'service_started');
  else if (isDict(raw)) {
    for (const [target, spec] of Object.entries(raw)) {
      const condition =
        isDict(spec) && typeof spec['condition'] === 'string'
          ? spec['condition']
          : 'service_started';
      out.set(target, condition);
    }
  }
  return out;
}

/** Container ports a service publishes. */
function publishedTargets(service: Dict): number[] {
  const ports = service['ports'];
  if (!Array.isArray(ports)) return [];
  return ports.map((p) => {
    if (isDict(p)) return Number(p['target']);
    const spec = String(p).split('/')[0] ?? '';
    return Number(spec.split(':').at(-1));
  });
}

function isStowageBuild(service: Dict): boolean {
  const build = service['build'];
  if (build === undefined) return false;
  const context =
    typeof build === 'string'
      ? build
      : isDict(build) && typeof build['context'] === 'string'
        ? build['context']
        : '.';
  const dockerfile =
    isDict(build) && typeof build['dockerfile'] === 'string' ? build['dockerfile'] : 'Dockerfile';
  return normalize(join(context, dockerfile)) === normalize(STOWAGE_DOCKERFILE);
}

const composeText = readFileSync(COMPOSE_FILE, 'utf8');
// `merge: true` resolves `<<: *anchor` the way compose (YAML 1.1) does.
const compose = asDict(parse(composeText, { merge: true }), 'docker-compose.yml');
const services = asDict(compose['services'], 'services');
const serviceEntries = Object.entries(services).map(([name, s]): [string, Dict] => [
  name,
  asDict(s, `services.${name}`),
]);

const stowageImages = new Set(
  serviceEntries
    .filter(([, s]) => isStowageBuild(s) && typeof s['image'] === 'string')
    .map(([, s]) => String(s['image'])),
);
const stowageServices = serviceEntries.filter(
  ([, s]) => isStowageBuild(s) || (typeof s['image'] === 'string' && stowageImages.has(s['image'])),
);
const stowageNames = new Set(stowageServices.map(([name]) => name));

function service(name: string): Dict {
  const s = services[name];
  if (!isDict(s)) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
}

function envOf(name: string): Env {
  return serviceEnv(name, service(name)).env;
}

describe('docker-compose.yml', () => {
  it('runs api, worker, scheduler and dashboard from the image built by deploy/Dockerfile', () => {
    for (const name of ['api', 'worker', 'scheduler', 'dashboard'])
      expect(stowageNames).toContain(name);
  });

  it('shares one environment block through an x- extension anchor', () => {
    expect(Object.keys(compose).some((k) => k.startsWith('x-'))).toBe(true);
    expect(composeText).toMatch(/^x-[\w-]+: &[\w-]+/m);
    // the anchor is really resolved: every stowage service sees the shared REDIS_URL
    for (const name of stowageNames) expect(envOf(name)['REDIS_URL'], name).toBeTruthy();
  });

  it('sets only environment variables that src/config.ts knows, with string values', () => {
    const unknown: string[] = [];
    const problems: string[] = [];
    for (const [name, s] of stowageServices) {
      const resolved = serviceEnv(name, s);
      problems.push(...resolved.problems);
      for (const key of Object.keys(resolved.env))
        if (!KNOWN_KEYS.has(key)) unknown.push(`${name}: ${key}`);
    }
    expect(problems).toEqual([]);
    expect(unknown, 'variables not in CONFIG_KEYS').toEqual([]);
  });

  it('gives every stowage service an environment loadConfig() accepts', () => {
    const rejected: string[] = [];
    for (const name of stowageNames) {
      const problems = configProblems(envOf(name));
      if (problems !== null) rejected.push(`${name}: ${problems}`);
    }
    expect(rejected).toEqual([]);
  });

  it('starts each stowage service with a CLI subcommand', () => {
    for (const [name, s] of stowageServices) {
      const command = commandOf(s);
      // no command: the image's CMD ["api"]
      expect(CLI_SUBCOMMANDS, `${name} command ${JSON.stringify(command)}`).toContain(
        command[0] ?? 'api',
      );
    }
    expect(commandOf(service('api'))[0] ?? 'api').toBe('api');
    expect(commandOf(service('worker'))[0]).toBe('worker');
    expect(commandOf(service('scheduler'))[0]).toBe('scheduler');
    expect(commandOf(service('dashboard'))[0]).toBe('dashboard');
  });

  it('points every stowage process at the same queue Redis and queue prefix', () => {
    const seen = new Set(
      [...stowageNames].map((name) => {
        const cfg = loadConfig(envOf(name));
        return `${cfg.REDIS_URL} ${cfg.QUEUE_PREFIX}`;
      }),
    );
    expect([...seen]).toHaveLength(1);
  });

  it('publishes the api on API_PORT and the dashboard on DASHBOARD_PORT', () => {
    expect(publishedTargets(service('api'))).toContain(loadConfig(envOf('api')).API_PORT);
    expect(publishedTargets(service('dashboard'))).toContain(
      loadConfig(envOf('dashboard')).DASHBOARD_PORT,
    );
  });

  it('runs the queue Redis with noeviction and append-only persistence', () => {
    const redisCommand = (name: string): string => commandOf(service(name)).join(' ');
    expect(redisCommand('redis')).toMatch(/--maxmemory-policy\s+noeviction\b/);
    expect(redisCommand('redis')).toMatch(/--appendonly\s+yes\b/);
    // and REDIS_URL really names that server
    for (const name of stowageNames) {
      const host = new URL(loadConfig(envOf(name)).REDIS_URL).hostname;
      expect(services, `${name}: REDIS_URL host ${host}`).toHaveProperty([host]);
      expect(redisCommand(host), `${name}: REDIS_URL host ${host}`).toMatch(
        /--maxmemory-policy\s+noeviction\b/,
      );
    }
  });

  it('ships no API key: compose stops, naming API_KEYS, until the operator gives one', () => {
    expect(composeText).not.toMatch(/change-me/i);
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH },
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/API_KEYS/);
  }, 60_000);

  it('runs in production, where the .env.example placeholder keys are refused', () => {
    const example = parseDotenv(readFileSync(ENV_EXAMPLE, 'utf8')).set;
    const problems = configProblems({ ...envOf('api'), API_KEYS: example.get('API_KEYS') });
    expect(envOf('api')['NODE_ENV']).toBe('production');
    expect(problems).toMatch(/API_KEYS: key "local-admin" secret is a placeholder/);
  });

  it('listens on every interface inside the containers, published on 127.0.0.1 only', () => {
    for (const name of stowageNames) expect(loadConfig(envOf(name)).API_HOST, name).toBe('0.0.0.0');
    for (const name of ['api', 'dashboard'])
      for (const p of (service(name)['ports'] as unknown[]) ?? [])
        expect(String(p), name).toMatch(/^127\.0\.0\.1:/);
  });

  it('runs more than one worker replica', () => {
    const worker = service('worker');
    const deploy = isDict(worker['deploy']) ? worker['deploy'] : {};
    const replicas = deploy['replicas'] ?? worker['scale'];
    expect(Number(replicas)).toBeGreaterThan(1);
    // docker-compose 1.29 accepts both in `config` but refuses them together at `up`
    expect(deploy['replicas'] !== undefined && worker['scale'] !== undefined).toBe(false);
  });

  it('only depends on services that exist, and waits for health only where there is a health check', () => {
    const missing: string[] = [];
    const unhealthy: string[] = [];
    for (const [name, s] of serviceEntries) {
      for (const [target, condition] of dependsOn(s)) {
        const dep = services[target];
        if (!isDict(dep)) {
          missing.push(`${name} -> ${target}`);
          continue;
        }
        if (condition !== 'service_healthy') continue;
        const hc = dep['healthcheck'];
        const disabled =
          isDict(hc) &&
          (hc['disable'] === true || (Array.isArray(hc['test']) && hc['test'][0] === 'NONE'));
        // stowage services inherit the image's HEALTHCHECK
        const hasCheck = isDict(hc) ? !disabled : stowageNames.has(target);
        if (!hasCheck) unhealthy.push(`${name} -> ${target}`);
      }
    }
    expect(missing, 'depends_on targets that are not services').toEqual([]);
    expect(unhealthy, 'service_healthy on a service without a health check').toEqual([]);
    const infra = ['redis', 'postgres', 'clickhouse', 'minio'];
    for (const name of infra) expect(services, name).toHaveProperty([name]);
  });

  it('passes `docker-compose -f docker-compose.yml config -q`', () => {
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH, ...OPERATOR_ENV },
    });
    if (result.error) {
      const code = (result.error as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ENOENT'
          ? 'docker-compose is not installed: run scripts/install-deps.sh (it installs Debian docker-compose 1.29 without the engine)'
          : `docker-compose could not run: ${result.error.message}`,
      );
    }
    expect(result.stderr.trim() + result.stdout.trim(), 'docker-compose config output').toBe('');
    expect(result.status).toBe(0);
  }, 60_000);

  it("resolves each stowage service's environment the way docker-compose does", () => {
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH, ...OPERATOR_ENV },
    });
    if (result.error)
      throw new Error(
        `docker-compose could not run (scripts/install-deps.sh installs it): ${result.error.message}`,
      );
    expect(result.status, result.stderr).toBe(0);
    const resolved = asDict(asDict(parse(result.stdout), 'compose config')['services'], 'services');
    for (const name of stowageNames) {
      expect(serviceEnv(name, asDict(resolved[name], name)).env, name).toEqual(envOf(name));
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------
// .env.example
// ---------------------------------------------------------------------------------------

describe('.env.example', () => {
  const example = parseDotenv(readFileSync(ENV_EXAMPLE, 'utf8'));
  const listed = new Set([...example.set.keys(), ...example.commented]);

  it('lists every configuration key, set or commented out, once', () => {
    expect(
      CONFIG_KEYS.filter((k) => !listed.has(k)),
      'keys missing from .env.example',
    ).toEqual([]);
    expect(example.duplicates).toEqual([]);
  });

  it('lists no key the configuration does not know', () => {
    expect([...listed].filter((k) => !KNOWN_KEYS.has(k))).toEqual([]);
  });

  it('holds values loadConfig() accepts', () => {
    expect(configProblems(Object.fromEntries(example.set))).toBeNull();
  });

  it('documents each key with its description and default on the line above', () => {
    const wrong: string[] = [];
    for (const key of CONFIG_KEYS) {
      const index = example.lines.findIndex(
        (l) => l.startsWith(`${key}=`) || new RegExp(`^#\\s*${key}=`).test(l),
      );
      const comment = example.lines[index - 1] ?? '';
      const field = configSchema.shape[key];
      const description = field.description ?? '';
      const def = field.def as unknown as { type: string; defaultValue?: unknown };
      const defaultValue = def.type === 'default' ? def.defaultValue : undefined;
      if (description === '') wrong.push(`${key}: the schema has no .describe() text`);
      else if (!comment.startsWith('#') || !comment.includes(description))
        wrong.push(`${key}: comment lacks "${description}"`);
      const shown =
        ['string', 'number', 'boolean'].includes(typeof defaultValue) && defaultValue !== ''
          ? String(defaultValue)
          : null;
      if (shown !== null && !comment.includes(`Default: ${shown}.`))
        wrong.push(`${key}: comment lacks "Default: ${shown}."`);
    }
    expect(wrong).toEqual([]);
  });

  it("documents each SCHEDULE_ variable it lists with its definition's meaning and default", () => {
    const wrong: string[] = [];
    for (const doc of SCHEDULE_DOCS.filter((d) => listed.has(d.variable))) {
      const index = example.lines.findIndex(
        (l) => l.startsWith(`${doc.variable}=`) || new RegExp(`^#\\s*${doc.variable}=`).test(l),
      );
      const comment = example.lines[index - 1] ?? '';
      if (!comment.startsWith('#') || !comment.includes(doc.description))
        wrong.push(`${doc.variable}: comment lacks "${doc.description}"`);
      if (!comment.includes(`Default: ${doc.default}.`))
        wrong.push(`${doc.variable}: comment lacks "Default: ${doc.default}."`);
    }
    expect(wrong).toEqual([]);
  });

  it('can be sourced by a shell: values with spaces or globs are quoted', () => {
    const unsafe = example.lines.filter(
      (l) => /^[A-Z][A-Z0-9_]*=/.test(l) && /^[^=]+=[^"'].*[\s*?]/.test(l),
    );
    expect(unsafe).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// deploy/Dockerfile
// ---------------------------------------------------------------------------------------

describe('deploy/Dockerfile', () => {
  // instructions, with continuation lines joined and comments dropped
  const instructions = readFileSync(DOCKERFILE, 'utf8')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
  const froms = instructions.map((ins, i) => ({ ...ins, i })).filter((ins) => ins.op === 'FROM');
  const lastFrom = froms.at(-1)?.i ?? 0;
  const finalStage = instructions.slice(lastFrom);

  it('is multi-stage', () => {
    expect(froms.length).toBeGreaterThan(1);
    expect(froms.every((f) => f.args.startsWith('node:20-bookworm-slim'))).toBe(true);
  });

  it('runs the final stage as a non-root user', () => {
    const user = finalStage
      .filter((ins) => ins.op === 'USER')
      .at(-1)
      ?.args.split(':')[0];
    expect(user, 'USER in the final stage').toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('starts the CLI that package.json bin names, api by default, with a health check', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      bin?: Record<string, string>;
    };
    const entrypoint = finalStage.filter((ins) => ins.op === 'ENTRYPOINT').at(-1)?.args ?? '';
    const cmd = finalStage.filter((ins) => ins.op === 'CMD').at(-1)?.args ?? '';
    expect(JSON.parse(entrypoint)).toEqual(['node', pkg.bin?.['stowage']]);
    expect(JSON.parse(cmd)).toEqual(['api']);
    expect(finalStage.find((ins) => ins.op === 'HEALTHCHECK')?.args).toMatch(/fetch\(.*\/health/);
  });

  it('keeps host artefacts and secrets out of the build context', () => {
    const ignored = readFileSync(DOCKERIGNORE, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.stowage', '.git', 'coverage', '.env'])
      expect(ignored).toContain(entry);
  });
});
