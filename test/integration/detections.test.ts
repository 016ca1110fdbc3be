import { Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StowageClient } from '../../src/sdk/index.js';
import { StowageWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const HOUR = 3_600_000;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

interface DetectionBody {
  detection_id: string;
  timestamp: string;
  ioc_value: string;
  ioc_type: string;
  activity_event_id: string;
  activity_source: string;
  severity: string;
  confidence: number;
  first_seen: string;
  last_seen: string;
  status?: string;
  case_id?: string;
}

/** A detection of seed 000's shape; `i` spreads timestamps one minute apart, newest first. */
function detection(id: string, i = 0, overrides: Partial<DetectionBody> = {}): DetectionBody {
  return {
    detection_id: id,
    timestamp: iso(2 * HOUR + i * 60_000),
    ioc_value: 'evil.com',
    ioc_type: 'domain',
    activity_event_id: `evt_${id}`,
    activity_source: 'dns',
    severity: 'HIGH',
    confidence: 0.9,
    first_seen: iso(5 * HOUR),
    last_seen: iso(3 * HOUR),
    ...overrides,
  };
}

interface Problem {
  status: number;
  detail: string;
  code: string;
  errors?: { path: string; message: string }[];
}

describe.each(['postgres', 'clickhouse'] as const)('detections with HOT_STORE=%s', (hotStore) => {
  let world: StowageWorld;
  let base: string;
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    key: string = TEST_KEYS.ingest,
  ) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const get = (path: string) => call('GET', path, undefined, TEST_KEYS.read);
  const settled = (id: string) =>
    eventually(
      async () => {
        const job = await Job.fromId(world.queues.get('ingest'), id);
        const state = await job?.getState();
        return state === 'completed' || state === 'failed' ? { state, job: job! } : undefined;
      },
      60_000,
      `job ${id}`,
    );
  /** Ingests a batch through the api and waits until every job of it completed. */
  const ingest = async (detections: DetectionBody[], extra: Record<string, unknown> = {}) => {
    const res = await call('POST', '/v1/ingest/detections', { detections, ...extra });
    expect(res.status).toBe(202);
    const jobs = (res.body.jobs as { id: string }[] | undefined) ?? [{ id: res.body.id as string }];
    for (const job of jobs) expect((await settled(job.id)).state).toBe('completed');
    return res.body;
  };
  const setStatus = (id: string, body: Record<string, unknown>) =>
    call('POST', `/v1/detections/${id}/status`, body);

  beforeEach(async () => {
    world = new StowageWorld({ HOT_STORE: hotStore, INGEST_CHUNK_SIZE: '10' });
    await world.initStores();
    base = await world.startApi();
  });
  afterEach(async () => {
    await world.close();
  });

  it('refuses bad input with a 400 naming each failing field, and enqueues nothing', async () => {
    const bad = await call('POST', '/v1/ingest/detections', {
      detections: [
        detection('det_ok'),
        detection('det_bad', 0, { severity: 'SEVERE', confidence: 1.5 }),
        { ...detection('det_extra'), colour: 'red' },
        detection('det_ioc', 0, { ioc_value: 'not a domain!' }),
      ],
    });
    expect(bad.status).toBe(400);
    const paths = (bad.body as unknown as Problem).errors!.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'detections.1.severity',
        'detections.1.confidence',
        'detections.2.colour',
        'detections.3.ioc_value',
      ]),
    );
    const orphan = await call('POST', '/v1/ingest/detections', {
      detections: [detection('det_a')],
      watermark: { timestamp: iso(HOUR) },
    });
    expect(orphan.status).toBe(400);
    expect((orphan.body as unknown as Problem).errors!.map((e) => e.path)).toEqual(['source_id']);
    expect(await world.queues.get('ingest').count()).toBe(0);

    const status = await setStatus('det_a', { status: 'Done', colour: 1 });
    expect(status.status).toBe(400);
    expect((status.body as unknown as Problem).errors!.map((e) => e.path).sort()).toEqual([
      'colour',
      'status',
    ]);
    const search = await get('/v1/detections?limit=5000&severity=high');
    expect(search.status).toBe(400);
    expect((search.body as unknown as Problem).errors!.map((e) => e.path).sort()).toEqual([
      'limit',
      'severity',
    ]);
    const cursor = await get('/v1/detections?cursor=bm90LWEtY3Vyc29y');
    expect(cursor.status).toBe(400);
    expect((cursor.body as unknown as Problem).errors!.map((e) => e.path)).toEqual(['cursor']);
    expect((await get('/v1/detections/det_nope')).status).toBe(404);
    expect((await setStatus('det_nope', { status: 'Investigating' })).status).toBe(404);
  });

  it('a replayed request and a retried job store each detection once', async () => {
    await world.startWorker(['ingest']);
    const batch = Array.from({ length: 25 }, (_, i) => detection(`det_r${i}`, i));
    const first = await ingest(batch);
    expect(first.detections).toBe(25);
    expect((first.jobs as unknown[]).length).toBe(3);
    expect(await world.deps.detections.count()).toBe(25);
    // Claim-checked: the job holds the staged batch's digest, never a record.
    const held = await Job.fromId(
      world.queues.get('ingest'),
      (first.jobs as { id: string }[])[0]!.id,
    );
    expect(Object.keys(held!.data as object)).toEqual(['batch', '$meta']);
    // Who asked, and the batch's one indicator as a search tag: never a record.
    expect((held!.data as { $meta: unknown }).$meta).toEqual({
      enqueued_by: 'ingest-client',
      tenant: 'ingest-client',
      tags: ['ioc:evil.com'],
    });
    const before = await get('/v1/detections/det_r3');

    // The same request again: the same jobs, nothing enqueued twice.
    const replay = await call('POST', '/v1/ingest/detections', { detections: batch });
    expect(replay.status).toBe(202);
    expect(replay.body.jobs).toEqual(first.jobs);
    // The same records in a new job (another key): it runs and writes nothing.
    const again = await call(
      'POST',
      '/v1/ingest/detections',
      { detections: batch },
      TEST_KEYS.admin,
    );
    const jobs = again.body.jobs as { id: string }[];
    expect(jobs[0]!.id).not.toBe((first.jobs as { id: string }[])[0]!.id);
    for (const job of jobs) {
      const { state, job: done } = await settled(job.id);
      expect(state).toBe('completed');
      expect((done.returnvalue as { written: number }).written).toBe(0);
    }
    expect(await world.deps.detections.count()).toBe(25);
    expect(await get('/v1/detections/det_r3')).toEqual(before);
  });

  it('a re-sent detection merges its sighting and never moves the status an analyst set', async () => {
    await world.startWorker(['ingest']);
    await ingest([
      detection('det_m', 0, { confidence: 0.6, severity: 'MEDIUM' }),
      detection('det_given', 1, { status: 'Escalated', case_id: 'INC9' }),
    ]);
    // A first write takes the status and case it is given, without a history row.
    const given = (await get('/v1/detections/det_given')).body;
    expect(given.detection).toMatchObject({ status: 'Escalated', case_id: 'INC9' });
    expect(given.history).toEqual([]);
    expect((await setStatus('det_m', { status: 'Investigating', case_id: 'INC1' })).status).toBe(
      200,
    );
    const later = iso(HOUR);
    await ingest([
      detection('det_m', 0, {
        confidence: 0.8,
        severity: 'CRITICAL',
        last_seen: later,
        status: 'New',
        case_id: 'INC-other',
      }),
    ]);
    await ingest([detection('det_m', 0, { confidence: 0.7, severity: 'LOW' })]);
    const { detection: d } = (await get('/v1/detections/det_m')).body as {
      detection: Record<string, unknown>;
    };
    expect(d).toMatchObject({
      status: 'Investigating',
      case_id: 'INC1',
      confidence: 0.8,
      severity: 'CRITICAL',
      last_seen: later,
    });
  });

  it('walks the workflow: allowed moves recorded, impossible ones 409, a repeat a no-op', async () => {
    await world.startWorker(['ingest']);
    await ingest([detection('det_123'), detection('det_c', 1)]);
    const moved = await setStatus('det_123', { status: 'Investigating', case_id: 'INC0012345' });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      changed: true,
      detection: { status: 'Investigating', case_id: 'INC0012345' },
      change: { from: 'New', to: 'Investigating', case_id: 'INC0012345', by: 'ingest-client' },
    });
    // The same status and case again: 200, nothing written.
    const repeat = await setStatus('det_123', { status: 'Investigating', case_id: 'INC0012345' });
    expect(repeat.status).toBe(200);
    expect(repeat.body.changed).toBe(false);
    const sameNoCase = await setStatus('det_123', { status: 'Investigating' });
    expect(sameNoCase.body.changed).toBe(false);

    const back = await setStatus('det_123', { status: 'New' });
    expect(back.status).toBe(409);
    expect((back.body as unknown as Problem).detail).toContain('from "Investigating" to "New"');
    expect((back.body as unknown as Problem).errors![0]!.path).toBe('status');

    expect((await setStatus('det_123', { status: 'Resolved', note: 'blocked' })).status).toBe(200);
    expect((await setStatus('det_123', { status: 'False Positive' })).status).toBe(409);
    // Reopen.
    expect((await setStatus('det_123', { status: 'Investigating' })).status).toBe(200);

    expect((await setStatus('det_c', { status: 'Confirmed' })).status).toBe(200);
    const refused = await setStatus('det_c', { status: 'False Positive' });
    expect(refused.status).toBe(409);
    expect((refused.body as unknown as Problem).detail).toContain(
      'from "Confirmed" to "False Positive"',
    );

    const { body } = await get('/v1/detections/det_123');
    expect(body.detection).toMatchObject({ status: 'Investigating', case_id: 'INC0012345' });
    const history = body.history as { from: string; to: string; note: string | null }[];
    expect(history.map((h) => [h.from, h.to])).toEqual([
      ['New', 'Investigating'],
      ['Investigating', 'Resolved'],
      ['Resolved', 'Investigating'],
    ]);
    expect(history[1]!.note).toBe('blocked');
  });

  it('of racing status changes one wins; the others are no-ops or 409, never a second move', async () => {
    await world.startWorker(['ingest']);
    await ingest([detection('det_race')]);
    // Neither target may follow the other, so a second move would be a lost race's.
    const targets = ['Resolved', 'False Positive'];
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        setStatus('det_race', { status: targets[i % targets.length] }),
      ),
    );
    const changed = answers.filter((a) => a.status === 200 && a.body.changed === true);
    expect(changed).toHaveLength(1);
    for (const a of answers) expect([200, 409]).toContain(a.status);
    const { body } = await get('/v1/detections/det_race');
    const history = body.history as { from: string; to: string }[];
    expect(history).toHaveLength(1);
    const winner = (changed[0]!.body.detection as { status: string }).status;
    expect(history[0]).toMatchObject({ from: 'New', to: winner });
    expect((body.detection as { status: string }).status).toBe(winner);
  });

  it('searches by severity, status, window and indicator, cursor-paged and stable under inserts', async () => {
    await world.startWorker(['ingest']);
    const severities = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFO'];
    const batch = Array.from({ length: 30 }, (_, i) =>
      detection(`det_s${String(i).padStart(2, '0')}`, i, {
        severity: severities[i % 5]!,
        ioc_value: i % 3 === 0 ? 'Bad.Example.ORG' : 'evil.com',
      }),
    );
    // Two detections at the same instant: the id breaks the tie.
    batch.push(detection('det_tie', 0, { timestamp: batch[4]!.timestamp }));
    await ingest(batch);
    await setStatus('det_s00', { status: 'Investigating' });
    await setStatus('det_s05', { status: 'Investigating' });

    const high = await get('/v1/detections?severity=HIGH&limit=50');
    expect((high.body.detections as { detection_id: string }[]).map((d) => d.detection_id)).toEqual(
      ['det_s01', 'det_tie', 'det_s06', 'det_s11', 'det_s16', 'det_s21', 'det_s26'],
    );
    const seed = await get('/v1/detections?severity=CRITICAL&status=Investigating&limit=50');
    expect((seed.body.detections as { detection_id: string }[]).map((d) => d.detection_id)).toEqual(
      ['det_s00', 'det_s05'],
    );
    const byIoc = await get('/v1/detections?ioc_value=Bad.Example.ORG');
    expect((byIoc.body.detections as unknown[]).length).toBe(10);
    const window = await get(
      `/v1/detections?since=${encodeURIComponent(batch[9]!.timestamp)}&until=${encodeURIComponent(batch[2]!.timestamp)}`,
    );
    expect(
      (window.body.detections as { detection_id: string }[]).map((d) => d.detection_id),
    ).toEqual([
      'det_s03',
      'det_tie',
      'det_s04',
      'det_s05',
      'det_s06',
      'det_s07',
      'det_s08',
      'det_s09',
    ]);

    // Page through 7 at a time while newer and older detections arrive between pages.
    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const query: string = `/v1/detections?limit=7${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await get(query);
      expect(res.status).toBe(200);
      seen.push(...(res.body.detections as { detection_id: string }[]).map((d) => d.detection_id));
      cursor = res.body.next_cursor as string | null;
      if (page === 0) await ingest([detection(`det_new${page}`, -30)]);
      page++;
    } while (cursor !== null);
    expect(new Set(seen).size).toBe(seen.length);
    const expected = [...batch]
      .sort((a, b) =>
        a.timestamp === b.timestamp
          ? Number(a.detection_id < b.detection_id) - Number(a.detection_id > b.detection_id)
          : Number(a.timestamp < b.timestamp) - Number(a.timestamp > b.timestamp),
      )
      .map((d) => d.detection_id);
    expect(seen).toEqual(expected);

    const stats = await get('/v1/detections/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toEqual({
      total: 32,
      by_severity: { CRITICAL: 6, HIGH: 8, MEDIUM: 6, LOW: 6, INFO: 6 },
      by_status: {
        New: 30,
        Investigating: 2,
        Confirmed: 0,
        Escalated: 0,
        Resolved: 0,
        'False Positive': 0,
        Closed: 0,
      },
    });
  });

  it("seed 000's calls, one to one through the SDK, get the seed's answers", async () => {
    await world.startWorker(['ingest']);
    const storage = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.ingest });
    const reader = new StowageClient({ baseUrl: base, apiKey: TEST_KEYS.read });
    const now = new Date();
    // await storage.store_detection(detection)
    const stored = await storage.ingestDetections({
      detections: [
        {
          detection_id: 'det_123',
          timestamp: now,
          ioc_value: 'evil.com',
          ioc_type: 'domain',
          activity_event_id: 'evt_123',
          activity_source: 'dns',
          severity: 'HIGH',
          confidence: 0.95,
          first_seen: now,
          last_seen: now,
        },
      ],
    });
    expect('jobs' in stored).toBe(true);
    if ('jobs' in stored) for (const job of stored.jobs) await settled(job.id);
    // detections = await storage.search_detections(severity="HIGH", status="New", limit=50)
    const found = await reader.searchDetections({ severity: 'HIGH', status: 'New', limit: 50 });
    expect(found.detections.map((d) => d.detection_id)).toEqual(['det_123']);
    expect(found.next_cursor).toBeNull();
    // await storage.update_detection_status(detection_id="det_123", status="Investigating", case_id="INC0012345")
    const updated = await storage.updateDetectionStatus('det_123', {
      status: 'Investigating',
      case_id: 'INC0012345',
    });
    expect(updated.detection).toMatchObject({ status: 'Investigating', case_id: 'INC0012345' });
    const got = await reader.getDetection('det_123');
    expect(got?.history).toHaveLength(1);
    expect(await reader.getDetection('det_missing')).toBeUndefined();
    expect(
      (await reader.detectionStats({ since: new Date(now.getTime() - HOUR) })).by_status,
    ).toMatchObject({
      New: 0,
      Investigating: 1,
    });
    await expect(storage.updateDetectionStatus('det_123', { status: 'New' })).rejects.toMatchObject(
      { status: 409 },
    );
  });

  it('a batch with a watermark commits it once every detection is stored', async () => {
    await world.startWorker(['ingest']);
    const at = iso(HOUR);
    const body = await ingest(
      Array.from({ length: 12 }, (_, i) => detection(`det_w${i}`, i)),
      { source_id: 'ladon_detector', watermark: { timestamp: at } },
    );
    expect(body).toMatchObject({ type: 'watermark.commit', detections: 12, chunks: 2 });
    expect(await world.deps.detections.count()).toBe(12);
    const wm = await get('/api/v1/watermarks/ladon_detector');
    expect(wm.status).toBe(200);
    expect(wm.body.last_successful_timestamp).toBe(at);
    expect(wm.body.records_collected).toBe(12);
  });
});
