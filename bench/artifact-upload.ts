/**
 * Artifact upload: MB/s from HTTP request to verified object through Stowage (api and worker
 * as separate processes), against a direct lib-storage Upload of the same file to the same
 * S3 in the same run; and the peak RSS (VmHWM) of the api and worker processes.
 *
 *   npx tsx bench/artifact-upload.ts [--size-mib 1024] [--runs 1]
 *
 * The api and worker run from the compiled CLI (dist/), as in the Docker image.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { serviceEnv, startServices } from '../test/helpers/services.js';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    runs: { type: 'string', default: '1' },
  },
});
const sizeMiB = Number(values['size-mib']);
const runs = Number(values.runs);
const PART = 8 * 1024 * 1024;
const QUEUE = 4;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Writes size bytes of random data, streaming, and returns the file's SHA-256. */
async function makeFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const block = randomBytes(4 * 1024 * 1024);
  for (let written = 0; written < bytes; written += block.length) {
    // Vary each block so no layer can deduplicate.
    block.writeUInt32LE(written / block.length, 0);
    const chunk = block.subarray(0, Math.min(block.length, bytes - written));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  return hash.digest('hex');
}

/** Peak resident set of a process so far (kB → MB), from /proc. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function stowage(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function waitFor<T>(
  check: () => Promise<T | undefined>,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** POSTs a file as a raw body, streaming; resolves with the parsed JSON answer. */
function postFile(
  url: string,
  path: string,
  bytes: number,
  key: string,
  sha256: string,
): Promise<{ status: number; body: { id: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/octet-stream',
        'content-length': bytes,
        'x-content-sha256': sha256,
      },
    });
    req.on('response', (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as { id: string } }),
      );
    });
    req.on('error', reject);
    createReadStream(path).pipe(req);
  });
}

async function main() {
  process.stderr.write('building dist/…\n');
  execFileSync('npm', ['run', 'build'], { stdio: 'ignore' });
  await startServices();
  const env = { ...process.env, ...serviceEnv() };
  const s3 = new S3Client({
    region: env.S3_REGION ?? 'us-east-1',
    endpoint: env.S3_ENDPOINT!,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: env.S3_ACCESS_KEY_ID!, secretAccessKey: env.S3_SECRET_ACCESS_KEY! },
  });
  const dir = mkdtempSync(join(tmpdir(), 'stowage-bench-'));
  const bytes = sizeMiB * 1024 * 1024;
  const file = join(dir, 'artifact.bin');
  process.stderr.write(`writing ${sizeMiB} MiB of random data…\n`);
  const sha256 = await makeFile(file, bytes);

  const suffix = randomBytes(4).toString('hex');
  const baselineBucket = `bench-direct-${suffix}`;
  await s3.send(new CreateBucketCommand({ Bucket: baselineBucket }));
  const key = randomBytes(24).toString('hex');
  const port = await freePort();
  const benchEnv: NodeJS.ProcessEnv = {
    ...env,
    QUEUE_PREFIX: `bench${suffix}`,
    DATABASE_SCHEMA: `bench_${suffix}`,
    API_PORT: String(port),
    API_KEYS: `bench:${key}:admin`,
    SPOOL_DIR: join(dir, 'spool'),
    ARTIFACT_BUCKET_SAMPLES: `bench-samples-${suffix}`,
    ARTIFACT_BUCKET_TA_BUNDLES: `bench-tas-${suffix}`,
    ARTIFACT_BUCKET_DEBUG_BUNDLES: `bench-debug-${suffix}`,
    ARTIFACT_MAX_BYTES: String(bytes * 2),
    UPLOAD_PART_SIZE_BYTES: String(PART),
    UPLOAD_QUEUE_SIZE: String(QUEUE),
    LOG_LEVEL: 'warn',
  };
  const api = stowage(['api'], benchEnv);
  const worker = stowage(['worker', '--queues', 'artifacts'], benchEnv);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => ((await fetch(`${base}/ready`)).ok ? true : undefined),
    60_000,
    'api ready',
  );

  const rows: { run: number; direct: number; stowage: number; upload: number }[] = [];
  try {
    for (let run = 1; run <= runs; run++) {
      // Baseline: lib-storage straight from the file, same part and queue size.
      const objectKey = `direct/${randomUUID()}`;
      let t = performance.now();
      await new Upload({
        client: s3,
        params: { Bucket: baselineBucket, Key: objectKey, Body: createReadStream(file) },
        partSize: PART,
        queueSize: QUEUE,
      }).done();
      const directS = (performance.now() - t) / 1000;
      await s3.send(new DeleteObjectCommand({ Bucket: baselineBucket, Key: objectKey }));

      // Stowage: HTTP request → spool → job → multipart upload → verified object.
      const requestId = randomUUID();
      t = performance.now();
      const res = await postFile(
        `${base}/v1/artifacts/sample?request_id=${requestId}&filename=artifact.bin`,
        file,
        bytes,
        key,
        sha256,
      );
      if (res.status !== 202)
        throw new Error(`upload answered ${res.status}: ${JSON.stringify(res.body)}`);
      const status = await waitFor(
        async () => {
          const r = await fetch(`${base}/v1/jobs/${res.body.id}`, {
            headers: { authorization: `Bearer ${key}` },
          });
          const j = (await r.json()) as {
            state: string;
            failed_reason: string | null;
            processed_at: string | null;
            finished_at: string | null;
          };
          return j.state === 'completed' || j.state === 'failed' ? j : undefined;
        },
        30 * 60_000,
        'job',
      );
      const stowageS = (performance.now() - t) / 1000;
      if (status.state !== 'completed') throw new Error(`job failed: ${status.failed_reason}`);
      const head = await s3.send(
        new HeadObjectCommand({
          Bucket: benchEnv.ARTIFACT_BUCKET_SAMPLES,
          Key: `samples/${requestId}/artifact.bin`,
        }),
      );
      if (head.ContentLength !== bytes || head.Metadata?.sha256 !== sha256)
        throw new Error('object does not match the file');
      await s3.send(
        new DeleteObjectCommand({
          Bucket: benchEnv.ARTIFACT_BUCKET_SAMPLES,
          Key: `samples/${requestId}/artifact.bin`,
        }),
      );
      // The worker's part alone: from taking the job to the verified object.
      const uploadS = (Date.parse(status.finished_at!) - Date.parse(status.processed_at!)) / 1000;
      rows.push({
        run,
        direct: sizeMiB / directS,
        stowage: sizeMiB / stowageS,
        upload: sizeMiB / uploadS,
      });
    }
    const apiRss = peakRssMb(api.pid!);
    const workerRss = peakRssMb(worker.pid!);
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const direct = median(rows.map((r) => r.direct));
    const through = median(rows.map((r) => r.stowage));
    const upload = median(rows.map((r) => r.upload));
    const result = {
      size_mib: sizeMiB,
      runs,
      part_mib: PART / 1024 / 1024,
      queue_size: QUEUE,
      direct_mib_s: Number(direct.toFixed(1)),
      stowage_mib_s: Number(through.toFixed(1)),
      ratio: Number((through / direct).toFixed(3)),
      worker_upload_mib_s: Number(upload.toFixed(1)),
      worker_upload_ratio: Number((upload / direct).toFixed(3)),
      api_peak_rss_mb: Math.round(apiRss),
      worker_peak_rss_mb: Math.round(workerRss),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    api.kill('SIGTERM');
    worker.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
