// Artifact upload: HTTP request to verified object through the api, the spool and one
// worker, against a direct lib-storage Upload of the same file to the same S3 in the same
// run; and the peak memory of both processes.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { loadConfig } from '../../src/config.js';
import { createS3 } from '../../src/connections/s3.js';
import { median, peakRssMb, since, waitFor } from '../lib/measure.js';
import type { Section } from '../lib/report.js';
import { StowageProcess, benchStack } from '../lib/stack.js';

const PART = 8 * 1024 * 1024;
const QUEUE = 4;

/** Writes bytes of random data, streaming, and returns the file's SHA-256. */
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

/** POSTs a file as a raw body, streaming; resolves with the job id. */
function postFile(url: string, path: string, bytes: number, key: string, sha256: string) {
  return new Promise<string>((resolve, reject) => {
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
      res.on('end', () => {
        if (res.statusCode !== 202) reject(new Error(`upload answered ${res.statusCode}: ${data}`));
        else resolve((JSON.parse(data) as { id: string }).id);
      });
    });
    req.on('error', reject);
    createReadStream(path).pipe(req);
  });
}

export interface ArtifactOptions {
  sizeMiB: number;
  runs: number;
}

export async function artifactUpload(options: ArtifactOptions): Promise<Section> {
  const bytes = options.sizeMiB * 1024 * 1024;
  const stack = benchStack({
    ARTIFACT_MAX_BYTES: String(bytes * 2),
    UPLOAD_PART_SIZE_BYTES: String(PART),
    UPLOAD_QUEUE_SIZE: String(QUEUE),
  });
  stack.env.ARTIFACT_BUCKET_SAMPLES = `bench-samples-${stack.suffix}`;
  stack.env.ARTIFACT_BUCKET_TA_BUNDLES = `bench-tas-${stack.suffix}`;
  stack.env.ARTIFACT_BUCKET_DEBUG_BUNDLES = `bench-debug-${stack.suffix}`;
  const s3 = createS3(loadConfig(stack.env));
  const file = join(stack.dir, 'artifact.bin');
  process.stderr.write(`[bench] writing ${options.sizeMiB} MiB of random data…\n`);
  const sha256 = await makeFile(file, bytes);
  const direct = `bench-direct-${stack.suffix}`;
  await s3.send(new CreateBucketCommand({ Bucket: direct }));
  const { proc: api, base } = await StowageProcess.api(stack);
  const worker = await StowageProcess.worker(stack, ['artifacts']);
  const runs: { direct: number; stowage: number; worker: number }[] = [];
  let rss: { api: number; worker: number } | undefined;
  const auth = { authorization: `Bearer ${stack.key}` };
  try {
    for (let run = 0; run < options.runs; run++) {
      // Baseline: lib-storage straight from the file, same part and queue size.
      const key = `direct/${randomUUID()}`;
      let t = performance.now();
      await new Upload({
        client: s3,
        params: { Bucket: direct, Key: key, Body: createReadStream(file) },
        partSize: PART,
        queueSize: QUEUE,
      }).done();
      const directS = since(t) / 1000;
      await s3.send(new DeleteObjectCommand({ Bucket: direct, Key: key }));

      // Stowage: HTTP request → spool → job → multipart upload → verified object.
      const requestId = randomUUID();
      t = performance.now();
      const id = await postFile(
        `${base}/v1/artifacts/sample?request_id=${requestId}&filename=artifact.bin`,
        file,
        bytes,
        stack.key,
        sha256,
      );
      const status = await waitFor(
        async () => {
          const j = (await (await fetch(`${base}/v1/jobs/${id}`, { headers: auth })).json()) as {
            state: string;
            failed_reason: string | null;
            processed_at: string;
            finished_at: string;
          };
          return j.state === 'completed' || j.state === 'failed' ? j : undefined;
        },
        30 * 60_000,
        'artifact job',
      );
      const stowageS = since(t) / 1000;
      if (status.state !== 'completed') throw new Error(`job failed: ${status.failed_reason}`);
      const object = {
        Bucket: stack.env.ARTIFACT_BUCKET_SAMPLES,
        Key: `samples/${requestId}/artifact.bin`,
      };
      const head = await s3.send(new HeadObjectCommand(object));
      if (head.ContentLength !== bytes || head.Metadata?.sha256 !== sha256)
        throw new Error('object does not match the file');
      await s3.send(new DeleteObjectCommand(object));
      const workerS = (Date.parse(status.finished_at) - Date.parse(status.processed_at)) / 1000;
      runs.push({ direct: directS, stowage: stowageS, worker: workerS });
    }
  } finally {
    rss = { api: peakRssMb(api.pid), worker: peakRssMb(worker.pid) };
    await Promise.all([api.stop(), worker.stop()]);
    await s3.send(new DeleteBucketCommand({ Bucket: direct })).catch(() => undefined);
    for (const b of [
      stack.env.ARTIFACT_BUCKET_SAMPLES,
      stack.env.ARTIFACT_BUCKET_TA_BUNDLES,
      stack.env.ARTIFACT_BUCKET_DEBUG_BUNDLES,
    ])
      await s3.send(new DeleteBucketCommand({ Bucket: b })).catch(() => undefined);
    rmSync(stack.dir, { recursive: true, force: true });
  }
  const mibs = (s: number) => options.sizeMiB / s;
  const d = median(runs.map((r) => mibs(r.direct)));
  const s = median(runs.map((r) => mibs(r.stowage)));
  const w = median(runs.map((r) => mibs(r.worker)));
  const f = (v: number) => `${v.toFixed(1)} MiB/s`;
  return {
    id: `artifact-upload-${options.sizeMiB}`,
    title: `Artifact upload, ${options.sizeMiB.toLocaleString('en')} MiB`,
    method: [
      `${options.sizeMiB.toLocaleString('en')} MiB of random data, streamed over HTTP into`,
      '`POST /v1/artifacts/sample` (`stowage api` and `stowage worker --queues artifacts` as',
      'their own processes), through the spool and `artifact.upload` to a verified object',
      '(size and SHA-256 checked by HeadObject). Baseline in the same run against the same Ceph',
      `RGW: a direct \`@aws-sdk/lib-storage\` \`Upload\` of the same file, same part size (${PART / 1024 / 1024} MiB)`,
      `and queue size (${QUEUE}). Median of ${options.runs} run${options.runs === 1 ? '' : 's'}; peak RSS is \`VmHWM\` of each process.`,
    ].join(' '),
    rows: [
      {
        figure: 'HTTP request → verified object',
        value: f(s),
        baseline: f(d),
        ratio: s / d,
        goal: 0.9,
      },
      {
        figure: "worker's upload alone (job taken → verified)",
        value: f(w),
        baseline: f(d),
        ratio: w / d,
      },
      { figure: `worker peak RSS, ${options.sizeMiB} MiB`, value: `${Math.round(rss.worker)} MB` },
      { figure: `api peak RSS, ${options.sizeMiB} MiB`, value: `${Math.round(rss.api)} MB` },
    ],
  };
}
