import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, StowageError } from '../../src/errors/index.js';
import { Spool } from '../../src/stores/local/spool.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** n bytes in chunks of 64 KiB, generated lazily (the test holds no more than one chunk). */
function bytes(n: number, chunk = 64 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= n) {
        this.push(null);
        return;
      }
      const size = Math.min(chunk, n - sent);
      this.push(Buffer.alloc(size, sent % 251));
      sent += size;
    },
  });
}

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Spool', () => {
  let dir: string;
  let spool: Spool;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-spool-'));
    spool = new Spool(join(dir, 'nested', 'spool'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const entries = () => readdir(spool.dir);

  it('creates its directory and stores the bytes under a fresh name with their size and SHA-256', async () => {
    const body = Buffer.from('hello world');
    const got = await spool.receive(Readable.from([body]), { maxBytes: 1024 });
    expect(got).toEqual({
      // 128 random bits: a name nobody can guess.
      file: expect.stringMatching(/^[0-9a-f]{32}$/),
      size: 11,
      sha256: sha256(body),
    });
    expect(await readFile(spool.path(got.file))).toEqual(body);
    expect(await spool.exists(got.file)).toBe(true);
    expect(await entries()).toEqual([got.file]);
    // Other local users cannot read what was uploaded.
    expect((await stat(spool.path(got.file))).mode & 0o777).toBe(0o600);
  });

  it('binds a received file to its job: only the bound name is a job reference', async () => {
    const got = await spool.receive(Readable.from([Buffer.from('bytes')]), { maxBytes: 10 });
    const bound = await spool.bind(got.file, 'kabc123');
    expect(bound).toBe(`kabc123.${got.file}`);
    expect(await entries()).toEqual([bound]);
    expect(Spool.isBoundTo(bound, 'kabc123')).toBe(true);
    expect(Spool.isBoundTo(bound, 'kother')).toBe(false);
    expect(Spool.isBoundTo(got.file, 'kabc123')).toBe(false);
    await expect(spool.bind('../x', 'k1')).rejects.toThrow(PermanentError);
  });

  it('over SPOOL_MAX_BYTES an upload is spool_quota_exceeded, leaves no file, and frees its reservation', async () => {
    const quota = new Spool(spool.dir, { maxBytes: 100 });
    const first = await quota.receive(bytes(60), { maxBytes: 1_000 });
    // Announced too large: refused before a byte is read.
    const announced = new PassThrough();
    await expect(
      quota.receive(announced, { maxBytes: 1_000, declaredBytes: 41 }),
    ).rejects.toMatchObject({ code: 'spool_quota_exceeded', kind: 'transient' });
    expect(announced.readableLength).toBe(0);
    // Not announced: stopped while writing, once past the quota.
    await expect(quota.receive(bytes(50, 10), { maxBytes: 1_000 })).rejects.toMatchObject({
      code: 'spool_quota_exceeded',
    });
    expect(await entries()).toEqual([first.file]);
    // The refused uploads hold nothing: 40 bytes still fit, and once the first file is gone
    // (a worker uploaded it) the room is back.
    const fits = await quota.receive(bytes(40), { maxBytes: 1_000, declaredBytes: 40 });
    await quota.remove(first.file);
    await quota.remove(fits.file);
    await quota.receive(bytes(100), { maxBytes: 1_000 });
  });

  it('accepts exactly maxBytes and a matching declared digest in any case', async () => {
    const body = Buffer.alloc(4096, 7);
    const got = await spool.receive(Readable.from([body.subarray(0, 1000), body.subarray(1000)]), {
      maxBytes: 4096,
      expectedSha256: sha256(body).toUpperCase(),
    });
    expect(got.size).toBe(4096);
    expect(got.sha256).toBe(sha256(body));
  });

  it('hashes a large stream chunk by chunk', async () => {
    const n = 5 * 1024 * 1024 + 17;
    const got = await spool.receive(bytes(n), { maxBytes: n });
    expect(got.size).toBe(n);
    expect(got.sha256).toBe(sha256(await readFile(spool.path(got.file))));
  });

  it('one byte past the limit is payload_too_large, stops reading, and leaves no file', async () => {
    const source = bytes(10 * 1024 * 1024);
    const err = await spool.receive(source, { maxBytes: 1024 * 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).code).toBe('payload_too_large');
    expect(source.destroyed).toBe(true);
    expect(await entries()).toEqual([]);
  });

  it('a digest that does not match is checksum_mismatch and leaves no file', async () => {
    const err = await spool
      .receive(Readable.from([Buffer.from('abc')]), {
        maxBytes: 1024,
        expectedSha256: 'a'.repeat(64),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).code).toBe('checksum_mismatch');
    expect((err as PermanentError).context).toMatchObject({
      expected: 'a'.repeat(64),
      actual: sha256(Buffer.from('abc')),
    });
    expect(await entries()).toEqual([]);
  });

  it('a source that breaks mid-stream leaves no file', async () => {
    const source = new PassThrough();
    const pending = spool.receive(source, { maxBytes: 1024 * 1024 }).catch((e: unknown) => e);
    source.write(Buffer.alloc(1000));
    await until(async () => (await entries().catch(() => [])).length === 1);
    source.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    const err = await pending;
    expect(err).toBeInstanceOf(StowageError);
    expect((err as StowageError).code).toBe('upload_aborted');
    expect(await entries()).toEqual([]);
  });

  it('an aborted signal (the client went away) stops the upload and leaves no file', async () => {
    const source = new PassThrough();
    const abort = new AbortController();
    const pending = spool
      .receive(source, { maxBytes: 1024 * 1024, signal: abort.signal })
      .catch((e: unknown) => e);
    source.write(Buffer.alloc(1000));
    await until(async () => (await entries().catch(() => [])).length === 1);
    abort.abort();
    expect(((await pending) as StowageError).code).toBe('upload_aborted');
    expect(source.destroyed).toBe(true);
    expect(await entries()).toEqual([]);
  });

  it('a source that fails before the spool listens is still an error, not a crash', async () => {
    const source = new PassThrough();
    const pending = spool.receive(source, { maxBytes: 1024 }).catch((e: unknown) => e);
    source.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    expect(((await pending) as StowageError).code).toBe('upload_aborted');
    expect(await entries()).toEqual([]);
  });

  it('an empty upload is an empty file with the digest of no bytes', async () => {
    const got = await spool.receive(Readable.from([]), { maxBytes: 10 });
    expect(got.size).toBe(0);
    expect(got.sha256).toBe(sha256(Buffer.alloc(0)));
  });

  it('path, exists and remove refuse names that are not spool files', async () => {
    for (const bad of ['../etc/passwd', '/etc/passwd', '.hidden', 'a/b', '']) {
      expect(() => spool.path(bad), bad).toThrow(PermanentError);
      await expect(spool.remove(bad), bad).rejects.toThrow(PermanentError);
    }
    const got = await spool.receive(Readable.from([Buffer.from('x')]), { maxBytes: 10 });
    await spool.remove(got.file);
    await spool.remove(got.file);
    expect(await spool.exists(got.file)).toBe(false);
  });

  it('refuses a relative directory', () => {
    expect(() => new Spool('relative/spool')).toThrow(/absolute/);
  });
});
