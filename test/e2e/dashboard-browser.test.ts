// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core
// (no downloaded browsers). Signs in as an admin, finds every queue, retries a failed job
// from the job view and sees it completed; a read key gets no retry at all. Leaves a
// screenshot of the overview in docs/dashboard.png (the README shows it).
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES, type QueueName } from '../../src/config.js';
import type { EnqueuedJob } from '../../queues/producer.js';
import { gateField } from '../fixtures/test-jobs.js';
import { REPO_ROOT } from '../helpers/cli-process.js';
import { TestWorld, TEST_KEYS, eventually } from '../helpers/world.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(REPO_ROOT, 'docs', 'dashboard.png');
/** How long the UI may take to show a state (Bull Board polls the api every 5 s). */
const UI_MS = 20_000;

/** Runs a browser step; on failure saves a screenshot and the HTML and says where. */
async function withEvidence(page: Page, name: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    const dir = await mkdtemp(join(tmpdir(), `stowage-dashboard-${name}-`));
    await page.screenshot({ path: join(dir, 'page.png'), fullPage: true }).catch(() => undefined);
    await writeFile(join(dir, 'page.html'), await page.content().catch(() => '(no page)'));
    if (err instanceof Error) err.message += `\n(screenshot and HTML of the page: ${dir})`;
    throw err;
  }
}

describe('the dashboard in a browser', () => {
  let world: TestWorld;
  let base: string;
  let board: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  /** A fresh browser profile signed in with HTTP Basic: any user name, the key as password. */
  async function signIn(key: string): Promise<Page> {
    const context = await browser.newContext({
      httpCredentials: { username: 'ops', password: key },
      viewport: { width: 1280, height: 720 },
    });
    contexts.push(context);
    return context.newPage();
  }

  /** Waits until an enqueued job is in the given state. */
  async function reached(job: EnqueuedJob, state: 'completed' | 'failed'): Promise<void> {
    const queue = world.queues.get(job.queue as QueueName);
    await eventually(
      async () => ((await queue.getJobState(job.id)) === state ? true : undefined),
      10_000,
      `${job.id} ${state}`,
    );
  }

  /** Enqueues a `test.gate` job (gate closed) and waits until it has failed. */
  async function failedGateJob(gate: string): Promise<string> {
    const job = await world.producer.enqueue('test.gate', { gate });
    await reached(job, 'failed');
    return job.id;
  }

  /** Waits until the job view has loaded (its timeline shows when the job was added). */
  async function openJob(page: Page, id: string): Promise<void> {
    await page.goto(`${board}/queue/ingest/${encodeURIComponent(id)}`);
    await page.getByText('Added at').waitFor({ timeout: UI_MS });
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: run scripts/install-deps.sh (npm test does)`);
    world = new TestWorld();
    base = await world.startApi();
    board = `${base}${world.config.DASHBOARD_PATH}`;
    await world.startWorker(['ingest', 'artifacts', 'maintenance']);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in CI needs --no-sandbox; containers often have a tiny /dev/shm; no GPU anywhere.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await world?.close();
  });

  it('an admin signs in, sees every queue, retries a failed job in the UI and sees it completed', async () => {
    // Jobs the overview counts: finished ones on two queues, and the one that fails.
    const echoes = await Promise.all(
      ['alpha', 'bravo', 'charlie'].map((value) => world.producer.enqueue('test.echo', { value })),
    );
    const slow = await world.producer.enqueue('test.slow', { key: 'k', steps: 2, stepMs: 1 });
    await Promise.all([...echoes, slow].map((job) => reached(job, 'completed')));
    const id = await failedGateJob('dashboard');

    const anonymous = await browser.newContext();
    contexts.push(anonymous);
    const stranger = await anonymous.newPage();
    // The Basic challenge the browser gets without a key; headless, nobody answers its prompt.
    const challenge = stranger.waitForResponse((r) => r.url() === board, { timeout: UI_MS });
    await expect(stranger.goto(board)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect((await challenge).status()).toBe(401);
    expect((await challenge).headers()['www-authenticate']).toMatch(/^Basic /);

    const page = await signIn(TEST_KEYS.admin);
    await withEvidence(page, 'retry', async () => {
      await page.goto(board);
      const sidebar = page.getByRole('navigation');
      for (const queue of QUEUE_NAMES) {
        await sidebar.getByRole('link', { name: queue, exact: true }).waitFor({ timeout: UI_MS });
      }
      expect(await sidebar.getByRole('link').count()).toBe(QUEUE_NAMES.length);

      // From the overview's ingest card to its failed list, then into the job.
      await page
        .getByRole('main')
        .getByRole('link', { name: /^failed\s*1$/i })
        .and(page.locator('[href*="/queue/ingest?status=failed"]'))
        .click({ timeout: UI_MS });
      await page.getByRole('link', { name: id, exact: true }).click({ timeout: UI_MS });
      await page.getByText('Failed at').waitFor({ timeout: UI_MS });
      await page.getByText('gate "dashboard" is closed').waitFor({ timeout: UI_MS });

      // Whatever held the job up is fixed; now an operator retries it.
      await world.deps.redis.hset(world.sink, gateField('dashboard'), '1');
      // The job's actions are icon buttons: Retry is the one whose tooltip says so.
      const retry = page.locator('main li button:has(svg.lucide-refresh-cw)');
      await retry.hover({ timeout: UI_MS });
      await page.getByText('Retry', { exact: true }).waitFor({ timeout: UI_MS });
      await retry.click();
      const confirm = page.getByRole('alertdialog');
      await confirm.getByText('want to retry this job').waitFor({ timeout: UI_MS });
      await confirm.getByRole('button', { name: 'Confirm' }).click();

      await page.goto(`${board}/queue/ingest`);
      await page.getByRole('link', { name: /^completed/i }).click({ timeout: UI_MS });
      // A link of the completed list (the job list shown before the click links elsewhere).
      await page
        .getByRole('link', { name: id, exact: true })
        .and(page.locator('[href$="?status=completed"]'))
        .waitFor({ timeout: UI_MS });
    });
    expect(await world.queues.get('ingest').getJobState(id)).toBe('completed');
    expect((await world.sinkValues())['gate:dashboard:runs']).toBe(2);

    await withEvidence(page, 'overview', async () => {
      await page.goto(board);
      // The overview with the counts just produced: 4 finished on ingest, 1 on artifacts.
      await page.getByRole('link', { name: /^completed\s*5$/i }).waitFor({ timeout: UI_MS });
      await page.screenshot({ path: SCREENSHOT });
    });
  });

  it('a read key sees a failed job but gets no Retry, and the request it would send is refused', async () => {
    const id = await failedGateJob('read-only');
    await world.deps.redis.hset(world.sink, gateField('read-only'), '1');
    const page = await signIn(TEST_KEYS.read);
    await withEvidence(page, 'read-only', async () => {
      await openJob(page, id);
      await page.getByText('Stowage (read-only)').first().waitFor({ timeout: UI_MS });
      await page.getByText('Failed at').waitFor({ timeout: UI_MS });
      expect(await page.locator('main button:has(svg.lucide-refresh-cw)').count()).toBe(0);

      // What the Retry button sends, from the signed-in page: refused, not merely hidden.
      const status = await page.evaluate(
        async (url) => (await fetch(url, { method: 'PUT' })).status,
        `${board}/api/queues/ingest/${encodeURIComponent(id)}/retry`,
      );
      expect(status).toBe(403);
    });
    expect(await world.queues.get('ingest').getJobState(id)).toBe('failed');
    expect((await world.sinkValues())['gate:read-only:runs']).toBe(1);
  });
});
