import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '../../dashboard/server.js';
import { createLogger } from '../../src/log.js';
import { StowageWorld, TEST_KEYS } from '../helpers/world.js';

/** Two tenants' keys (ingest + read) and the admin key of the test world. */
const KEYS = {
  acme: 'acme-key-0123456789abcdef',
  globex: 'globex-key-0123456789abcdef',
};
const API_KEYS = [
  `acme-collector:${KEYS.acme}:ingest+read:acme`,
  `globex-collector:${KEYS.globex}:ingest+read:globex`,
  `admin-client:${TEST_KEYS.admin}:admin`,
].join(',');

const HOSTILE_TAG = `<script>alert("x")</script>&'`;
const HOSTILE_BY = `"><img src=x onerror=alert(1)>`;

const hour = 3_600_000;
const ioc = (value: string) => ({
  type: 'domain' as const,
  value,
  threat_type: 'c2',
  confidence: 0.9,
  source: 'otx',
  first_seen: new Date(Date.now() - 2 * hour).toISOString(),
  last_seen: new Date(Date.now() - hour).toISOString(),
});

const basic = (key: string) => `Basic ${Buffer.from(`browser:${key}`).toString('base64')}`;

/** The job ids a page lists, in order: each is a link to its page on the board. */
function listedIds(html: string): string[] {
  return [...html.matchAll(/<td><a href="[^"]*\/queue\/[^"]*">([^<]+)<\/a><\/td>/g)].map(
    (m) => m[1]!,
  );
}

describe('dashboard job search page', () => {
  let world: StowageWorld;
  let base: string;
  let dashboard: string;
  let acmeJobs: string[];
  let globexJob: string;
  let hostileJob: string;

  const page = async (key: string | undefined, query = '', root = dashboard) => {
    const res = await fetch(`${root}/jobs${query}`, {
      headers: key === undefined ? {} : { authorization: basic(key) },
    });
    return { status: res.status, type: res.headers.get('content-type'), html: await res.text() };
  };

  beforeAll(async () => {
    world = new StowageWorld({ API_KEYS });
    await world.initStores();
    base = await world.startApi();
    dashboard = `${base}${world.config.DASHBOARD_PATH}`;
    const acme = { enqueuedBy: 'acme-collector', tenant: 'acme' };
    // No worker runs: every job stays waiting, with a Cancel button for an admin.
    acmeJobs = [];
    for (const [i, extra] of [[], ['request:req-acme-1']].entries()) {
      const job = await world.producer.enqueue(
        'iocs.insert',
        { iocs: [ioc(`a${i}.page.example.com`)] },
        { origin: acme, tags: ['source:otx-shared', ...extra] },
      );
      acmeJobs.push(job.id);
    }
    // The same source tag under another tenant: a tag search must not cross tenants.
    globexJob = (
      await world.producer.enqueue(
        'iocs.insert',
        { iocs: [ioc('g.page.example.com')] },
        {
          origin: { enqueuedBy: 'globex-collector', tenant: 'globex' },
          tags: ['source:otx-shared'],
        },
      )
    ).id;
    hostileJob = (
      await world.producer.enqueue(
        'iocs.insert',
        { iocs: [ioc('h.page.example.com')] },
        { origin: { enqueuedBy: HOSTILE_BY, tenant: 'acme' }, tags: [HOSTILE_TAG] },
      )
    ).id;
  }, 60_000);

  afterAll(async () => {
    await world?.close();
  });

  it("searching by tenant and tag lists that tenant's jobs, newest first, each linked to its page on the board", async () => {
    const admin = await page(TEST_KEYS.admin, '?tenant=acme&tag=source%3Aotx-shared');
    expect(admin.status).toBe(200);
    expect(admin.type).toMatch(/^text\/html/);
    expect(listedIds(admin.html)).toEqual([...acmeJobs].reverse());
    for (const id of acmeJobs) {
      expect(admin.html).toContain(
        `<a href="${world.config.DASHBOARD_PATH}/queue/ingest/${encodeURIComponent(id)}">${id}</a>`,
      );
    }
    // The row says what the job is, who enqueued it and how it is found.
    expect(admin.html).toContain('<td>iocs.insert</td><td>ingest</td>');
    // Waiting, or prioritized where the queue is served fairly across tenants (FAIR_QUEUES).
    expect(admin.html).toMatch(
      /<td>(waiting|prioritized)<\/td><td>acme<\/td><td>acme-collector<\/td>/,
    );
    expect(admin.html).toContain(
      '<td>source:otx-shared<br>request:req-acme-1<br>ioc:a1.page.example.com</td>',
    );
    // The form keeps what was searched.
    expect(admin.html).toContain('name="tenant" value="acme"');
    expect(admin.html).toContain('name="tag" value="source:otx-shared"');
    // An admin gets a Cancel button on every waiting job.
    expect(admin.html.match(/<button>Cancel<\/button>/g)).toHaveLength(2);

    // The tag alone, for an admin: every tenant's job under it.
    const everyone = await page(TEST_KEYS.admin, '?tag=source%3Aotx-shared');
    expect(listedIds(everyone.html)).toEqual([...acmeJobs, globexJob].reverse());
    const byRequest = await page(TEST_KEYS.admin, '?tag=request%3Areq-acme-1');
    expect(listedIds(byRequest.html)).toEqual([acmeJobs[1]]);
    const none = await page(TEST_KEYS.admin, '?tag=source%3Anobody');
    expect(listedIds(none.html)).toEqual([]);
    expect(none.html).toContain('No jobs match.');
  });

  it("a read key sees its own tenant's jobs only, with no Cancel button; another tenant's is refused", async () => {
    const acme = await page(KEYS.acme, '?tag=source%3Aotx-shared');
    expect(acme.status).toBe(200);
    expect(listedIds(acme.html)).toEqual([...acmeJobs].reverse());
    expect(acme.html).not.toContain('<button>Cancel</button>');
    expect(acme.html).toContain('tenant <strong>acme</strong> only');

    const globex = await page(KEYS.globex, '?tag=source%3Aotx-shared');
    expect(listedIds(globex.html)).toEqual([globexJob]);
    for (const id of [...acmeJobs, hostileJob]) expect(globex.html).not.toContain(id);
    // Without any filter too: its tenant is the filter.
    expect(listedIds((await page(KEYS.globex)).html)).toEqual([globexJob]);

    expect((await page(KEYS.globex, '?tenant=acme')).status).toBe(403);
    expect((await page(undefined)).status).toBe(401);
    expect((await page('not-a-key-0123456789')).status).toBe(401);
  });

  it('escapes a hostile tag and enqueuer in the rows and a hostile search in the form', async () => {
    const res = await page(TEST_KEYS.admin, `?tag=${encodeURIComponent(HOSTILE_TAG)}`);
    expect(res.status).toBe(200);
    expect(listedIds(res.html)).toEqual([hostileJob]);
    const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;';
    // Once in the row, once in the form's input.
    expect(res.html.split(escaped)).toHaveLength(3);
    expect(res.html).toContain(`value="${escaped}"`);
    expect(res.html).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(res.html).not.toContain('<script');
    expect(res.html).not.toContain('<img');
    // The page carries no script at all, and neither does a search that is refused.
    const bad = await page(TEST_KEYS.admin, `?since=${encodeURIComponent('<b>soon</b>')}`);
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('<li>since: ');
    expect(bad.html).toContain('value="&lt;b&gt;soon&lt;/b&gt;"');
    expect(bad.html).not.toContain('<b>');
    const unknown = await page(TEST_KEYS.admin, '?tags=x');
    expect(unknown.status).toBe(400);
    expect(unknown.html).toMatch(/<li>query: [^<]*\(tags\)<\/li>/);
  });

  it('pages with a "Next page" link that carries the cursor and the search', async () => {
    const first = await page(TEST_KEYS.admin, '?tenant=acme&limit=2');
    expect(listedIds(first.html)).toEqual([hostileJob, acmeJobs[1]]);
    const next = /<a href="([^"]+)">Next page<\/a>/.exec(first.html)?.[1];
    expect(next).toBeDefined();
    const href = next!.replace(/&amp;/g, '&');
    const url = new URL(href, base);
    expect(url.pathname).toBe(`${world.config.DASHBOARD_PATH}/jobs`);
    expect(url.searchParams.get('tenant')).toBe('acme');
    expect(url.searchParams.get('limit')).toBe('2');
    const second = await page(TEST_KEYS.admin, url.search);
    expect(listedIds(second.html)).toEqual([acmeJobs[0]]);
    expect(second.html).not.toContain('Next page');
  });

  it("an admin's Cancel removes a waiting job and returns to the search; another site's form or a read key cannot", async () => {
    const victim = acmeJobs[0]!;
    const cancel = (key: string, origin: string | undefined) =>
      fetch(`${dashboard}/jobs/${encodeURIComponent(victim)}/cancel`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          authorization: basic(key),
          'content-type': 'application/x-www-form-urlencoded',
          ...(origin === undefined ? {} : { origin }),
        },
        body: new URLSearchParams({
          return_to: `${world.config.DASHBOARD_PATH}/jobs?tenant=acme`,
        }).toString(),
      });
    const ingest = world.queues.get('ingest');

    expect((await cancel(TEST_KEYS.admin, 'https://evil.example.com')).status).toBe(403);
    expect((await cancel(KEYS.acme, base)).status).toBe(403);
    expect(['waiting', 'prioritized']).toContain(await ingest.getJobState(victim));

    const done = await cancel(TEST_KEYS.admin, base);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`${world.config.DASHBOARD_PATH}/jobs?tenant=acme`);
    expect(await ingest.getJob(victim)).toBeUndefined();
    const after = await page(TEST_KEYS.admin, '?tenant=acme');
    expect(listedIds(after.html)).not.toContain(victim);

    // A return address elsewhere is not followed.
    const other = await world.producer.enqueue('iocs.insert', {
      iocs: [ioc('o.page.example.com')],
    });
    const offsite = await fetch(`${dashboard}/jobs/${encodeURIComponent(other.id)}/cancel`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        authorization: basic(TEST_KEYS.admin),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'return_to=https%3A%2F%2Fevil.example.com%2F',
    });
    expect(offsite.status).toBe(303);
    expect(offsite.headers.get('location')).toBe(`${world.config.DASHBOARD_PATH}/jobs`);
    expect(await ingest.getJob(other.id)).toBeUndefined();
  });

  it('the standalone dashboard serves the same page', async () => {
    const running = await startDashboard(world.config, createLogger(world.config), { port: 0 });
    try {
      const res = await page(KEYS.globex, '?tag=source%3Aotx-shared', running.url);
      expect(res.status).toBe(200);
      expect(listedIds(res.html)).toEqual([globexJob]);
      expect((await page(KEYS.globex, '?tenant=acme', running.url)).status).toBe(403);
    } finally {
      await running.stop();
    }
  });
});
