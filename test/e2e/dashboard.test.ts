import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { appendEvents } from '../../src/events/events.repository.ts';
import { MAX_REPLAY } from '../../src/live/live.schema.ts';
import { sweepLicenseStates } from '../../src/licenses/license.service.ts';
import { DATABASES } from '../support/databases.ts';
import { createOrg, createUser, OPERATOR_TOKEN, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { activateKey, createGroup, createUsers, issueLicenseKey, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { listenOn } from '../support/listen.ts';

/*
 * R-LIVE-2: the /dashboard page in a real headless Chromium against a
 * listening gateway. The page is driven like a person would (token typed into
 * the form), and sessions are started through the public API meanwhile; the
 * numbers must change in the page without a reload. The last test leaves a
 * realistic state and saves a screenshot (docs/dashboard.png with UPDATE_SCREENSHOTS=1).
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIPPED = HAVE_CHROMIUM ? '' : ` (skipped: ${CHROMIUM} is not installed; apt-get install chromium)`;
if (!HAVE_CHROMIUM)
  console.warn(
    `[dashboard.test] ${CHROMIUM} not found: the browser tests are skipped. Install it with: apt-get update && apt-get install -y chromium`,
  );

const START = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted session { id seatKind } denial { code message } } }`;
const END = `mutation($input: EndSessionInput!) { endSession(input: $input) { session { id } } }`;
const MINUTE = 60_000;
const T0 = new Date('2026-11-22T09:00:00.000Z');
const TOKEN_KEY = 'licensing-gateway.dashboard.token';

const kind = DATABASES[0]!;

describe(`[R-LIVE-2] /dashboard on ${kind}`, () => {
  let gw: TestGateway;
  let base: string;
  let browser: Browser | null = null;

  beforeAll(async () => {
    gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS, now: T0 });
    const address = await listenOn(gw);
    base = `http://127.0.0.1:${address.port}`;
    if (HAVE_CHROMIUM) {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
    }
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
  });

  /** A page that records every request leaving localhost, CSP violations and script errors. */
  async function openPage(
    viewport = { width: 1280, height: 900 },
  ): Promise<{ context: BrowserContext; page: Page; problems: string[]; foreign: string[] }> {
    const context = await browser!.newContext({ viewport, deviceScaleFactor: 1, locale: 'en-GB', timezoneId: 'UTC', colorScheme: 'light' });
    const page = await context.newPage();
    const problems: string[] = [];
    const foreign: string[] = [];
    const local = (url: string) => {
      const u = new URL(url);
      return u.protocol === 'data:' || u.protocol === 'about:' || u.hostname === '127.0.0.1' || u.hostname === 'localhost';
    };
    page.on('request', (request) => {
      if (!local(request.url())) foreign.push(request.url());
    });
    page.on('websocket', (socket) => {
      if (!local(socket.url())) foreign.push(socket.url());
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
    });
    await page.goto(`${base}/dashboard`);
    return { context, page, problems, foreign };
  }

  async function signIn(page: Page, token: string): Promise<void> {
    await page.getByTestId('token-input').fill(token);
    await page.getByTestId('login-submit').click();
  }

  const text = (page: Page, testId: string) => page.getByTestId(testId).textContent();

  /**
   * Passes the page's socket through, and runs `whileHeld` once, before the server gets the page's first
   * licenseEvents subscribe message: after the page read its events, before its subscription exists.
   * Resolves to a check that it ran.
   */
  async function holdEventsSubscription(page: Page, whileHeld: () => Promise<unknown>): Promise<() => boolean> {
    let held = false;
    await page.routeWebSocket(/\/graphql$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage(async (message) => {
        if (!held && typeof message === 'string' && message.includes('licenseEvents')) {
          held = true;
          await whileHeld();
        }
        server.send(message);
      });
    });
    return () => held;
  }
  const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });

  async function start(org: OrgFixture, userId: string): Promise<{ id: string; seatKind: string }> {
    const data = await gw.ok<{ startSession: { granted: boolean; session: { id: string; seatKind: string } | null; denial: unknown } }>(
      START,
      { input: { userId } },
      org.tokens.AGENT_CLIENT,
    );
    if (!data.startSession.granted || !data.startSession.session)
      throw new Error(`not granted: ${JSON.stringify(data.startSession.denial)}`);
    return data.startSession.session;
  }
  const end = (org: OrgFixture, sessionId: string) => gw.ok(END, { input: { sessionId } }, org.tokens.AGENT_CLIENT);

  it('[R-LIVE-2] GET /dashboard serves one self-contained page with a strict Content-Security-Policy', async () => {
    const res = await fetch(`${base}/dashboard`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).toContain(`connect-src 'self' ws://${new URL(base).host} wss://${new URL(base).host}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    const html = await res.text();
    expect(html).toBe(readFileSync(new URL('../../src/live/dashboard.html', import.meta.url), 'utf8'));
    // No external asset: no src/href to another origin, no CDN, no module imports.
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|<script[^>]+src=|<link[^>]+stylesheet/i);
    // A Host header that is no host name is not echoed into the policy.
    const hostile = await new Promise<string>((resolve, reject) => {
      const req = request(`${base}/dashboard`, { headers: { host: "evil.example; script-src 'unsafe-inline'" } }, (r) => {
        r.resume();
        resolve(String(r.headers['content-security-policy']));
      });
      req.on('error', reject);
      req.end();
    });
    expect(hostile).toContain("connect-src 'self';");
    expect(hostile).not.toContain('evil');
    const head = await fetch(`${base}/dashboard`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${base}/dashboard`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/dashboard`, { headers: { 'if-none-match': res.headers.get('etag')! } })).status).toBe(304);
  });

  it.skipIf(!HAVE_CHROMIUM)(`[R-LIVE-2][R-MON-1] a supervisor sees the innoACD pool change live as agents log in${SKIPPED}`, async () => {
    const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
    const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
    const users = await createUsers(gw, org, 3, { configurationGroupId: group, prefix: 'Agent' });
    const { context, page, problems, foreign } = await openPage();
    try {
      await poll(() => page.getByTestId('login').isVisible()).toBe(true);
      await signIn(page, org.tokens.SUPERVISOR);
      await poll(() => text(page, 'connection-status')).toBe('Live');
      await poll(() => text(page, 'org-name')).toMatch(/^innoacd /);
      await poll(() => text(page, 'pool-ACD_AGENT-inuse')).toBe('0');
      await poll(() => text(page, 'pool-ACD_AGENT-capacity')).toBe('5');
      await poll(() => text(page, 'pool-ACD_AGENT-maxpossible')).toBe('5');
      expect(await page.getByTestId('license-state').getAttribute('data-state')).toBe('ACTIVE');

      await start(org, users[0]!);
      await start(org, users[1]!);
      await poll(() => text(page, 'pool-ACD_AGENT-inuse')).toBe('2');
      await poll(() => text(page, 'pool-ACD_AGENT-total')).toBe('2');
      await poll(() => text(page, 'pool-ACD_AGENT-peak')).toBe('2');
      await poll(() => page.locator('[data-testid="events"] li[data-type="SESSION_STARTED"]').count()).toBe(2);

      // The token lives in sessionStorage only, never in the URL or localStorage.
      expect(page.url()).toBe(`${base}/dashboard`);
      expect(await page.evaluate((key) => [sessionStorage.getItem(key), localStorage.length], TOKEN_KEY)).toEqual([
        org.tokens.SUPERVISOR,
        0,
      ]);
      // A reload signs in again from sessionStorage.
      await page.reload();
      await poll(() => text(page, 'pool-ACD_AGENT-inuse')).toBe('2');
      expect(await page.getByTestId('login').isHidden()).toBe(true);

      expect(problems).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it.skipIf(!HAVE_CHROMIUM)(
    `[R-LIVE-2][R-LIVE-1] an agent who logs in while the page connects is listed: the page's events subscription starts after its first read${SKIPPED}`,
    async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const users = await createUsers(gw, org, 2, { configurationGroupId: group, prefix: 'Agent' });
      const { context, page, problems, foreign } = await openPage();
      try {
        // A session starts after the page read its events and before the server has its events subscription
        // (what a busy contact center does to every supervisor who opens the page).
        const held = await holdEventsSubscription(page, () => start(org, users[0]!));
        await signIn(page, org.tokens.SUPERVISOR);
        await poll(() => text(page, 'connection-status')).toBe('Live');
        await poll(() => text(page, 'pool-ACD_AGENT-inuse')).toBe('1');
        await start(org, users[1]!);
        await poll(() => text(page, 'pool-ACD_AGENT-inuse')).toBe('2');
        await poll(() => page.locator('[data-testid="events"] li[data-type="SESSION_STARTED"]').count()).toBe(2);
        expect(held()).toBe(true);
        expect(problems).toEqual([]);
        expect(foreign).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );

  it.skipIf(!HAVE_CHROMIUM)(
    `[R-LIVE-2][R-LIVE-1] more events while the page connects than a subscription replays: the page reads them afresh and stays live${SKIPPED}`,
    async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const [agent] = await createUsers(gw, org, 1, { configurationGroupId: group, prefix: 'Agent' });
      const { context, page, problems, foreign } = await openPage();
      try {
        // Between the page's read and its subscription, more events than licenseEvents(after:) replays.
        const held = await holdEventsSubscription(page, async () => {
          const at = gw.clock.now().getTime() + 1000;
          await appendEvents(
            gw.database.db,
            Array.from({ length: MAX_REPLAY + 1 }, (_, i) => ({
              organizationId: org.organizationId,
              type: 'USER_STATUS_CHANGED' as const,
              at: new Date(at + i),
              detail: `burst ${i}`,
              actor: 'test',
              apiTokenId: null,
            })),
          );
        });
        await signIn(page, org.tokens.SUPERVISOR);
        await poll(() => page.locator(`[data-testid="events"] li[title="burst ${MAX_REPLAY}"]`).count()).toBe(1);
        await poll(() => text(page, 'connection-status')).toBe('Live');
        expect(held()).toBe(true);
        // Subscribed again, after the newest: the next login is listed live, and no error was shown.
        await start(org, agent!);
        await poll(() => page.locator('[data-testid="events"] li[data-type="SESSION_STARTED"]').count()).toBe(1);
        expect(await page.getByTestId('error').isHidden()).toBe(true);
        expect(problems).toEqual([]);
        expect(foreign).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );

  it.skipIf(!HAVE_CHROMIUM)(
    `[SESSION_DENIED][R-LIVE-2] a full pool turns agents away and the pool card says how many, live${SKIPPED}`,
    async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 1 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const users = await createUsers(gw, org, 4, { configurationGroupId: group, prefix: 'Agent' });
      const { context, page, problems, foreign } = await openPage();
      try {
        await signIn(page, org.tokens.SUPERVISOR);
        await poll(() => text(page, 'connection-status')).toBe('Live');
        await poll(() => text(page, 'pool-ACD_AGENT-denied')).toBe('No agents turned away today');
        await start(org, users[0]!);
        await poll(() => text(page, 'pool-ACD_AGENT-inuse')).toBe('1');
        const refuse = async (userId: string) => {
          const data = await gw.ok<{ startSession: { granted: boolean; denial: { code: string } | null } }>(
            START,
            { input: { userId } },
            org.tokens.AGENT_CLIENT,
          );
          expect(data.startSession).toMatchObject({ granted: false, denial: { code: 'NO_SEAT_AVAILABLE' } });
        };
        await refuse(users[1]!);
        await poll(() => text(page, 'pool-ACD_AGENT-denied')).toBe('1 agent turned away today');
        await refuse(users[2]!);
        await refuse(users[3]!);
        await refuse(users[3]!); // the same agent again: still three agents
        await poll(() => text(page, 'pool-ACD_AGENT-denied')).toBe('3 agents turned away today');
        await poll(() => page.locator('[data-testid="events"] li[data-type="SESSION_DENIED"]').count()).toBe(3);
        expect(await page.getByTestId('pool-ACD_AGENT-denied').getAttribute('data-count')).toBe('3');
        expect(problems).toEqual([]);
        expect(foreign).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );

  it.skipIf(!HAVE_CHROMIUM)(
    `[R-LIVE-2] a bad token, a role without read access and the operator token get clear answers${SKIPPED}`,
    async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 2 }]);
      const { context, page, problems, foreign } = await openPage();
      try {
        await signIn(page, 'not-a-token');
        await poll(() => text(page, 'error-title')).toBe('Token not accepted');
        await poll(() => text(page, 'error-message')).toContain('UNAUTHENTICATED');
        expect(await page.getByTestId('login').isVisible()).toBe(true);
        expect(await page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBeNull();

        await signIn(page, org.tokens.AGENT_CLIENT);
        await poll(() => text(page, 'error-title')).toBe('Missing role');
        await poll(() => text(page, 'error-message')).toContain('FORBIDDEN');
        expect(await page.getByTestId('dashboard').isHidden()).toBe(true);

        // The operator names the organization.
        await signIn(page, OPERATOR_TOKEN);
        await poll(() => page.getByTestId('org-input').isVisible()).toBe(true);
        await page.getByTestId('org-input').fill(org.organizationId);
        await page.getByTestId('login-submit').click();
        await poll(() => text(page, 'pool-ACD_AGENT-capacity')).toBe('2');
        await poll(() => text(page, 'viewer')).toBe('Operator');
        await poll(() => text(page, 'connection-status')).toBe('Live');

        await page.getByTestId('logout').click();
        expect(await page.getByTestId('login').isVisible()).toBe(true);
        expect(await page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBeNull();
        expect(problems).toEqual([]);
        expect(foreign).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );

  /** A connect-storm organization with every concurrent pool: two seat pools and seven feature and channel pools. */
  async function stormOrg(name: string): Promise<{ org: OrgFixture; agents: string[] }> {
    const org = await createOrg(gw, 'connect-storm', name);
    await activateKey(
      gw,
      org,
      issueLicenseKey(
        'connect-storm',
        [
          { product: 'BASE', quantity: 60 },
          { product: 'AGENT_SEAT', quantity: 40, emergencyQuantity: 5 },
          { product: 'SUPERVISOR_SEAT', quantity: 6, emergencyQuantity: 1 },
          { product: 'VOICE', quantity: 40, emergencyQuantity: 4 },
          { product: 'EMAIL', quantity: 20 },
          { product: 'WEBCHAT', quantity: 20 },
          { product: 'SMS', quantity: 10 },
          { product: 'CALL_RECORDING', quantity: 40 },
          { product: 'REPORTING', quantity: 6 },
          { product: 'CONFERENCE', quantity: 10 },
        ],
        { org },
      ),
    );
    const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT', 'VOICE']);
    const agents = await createUsers(gw, org, 3, { configurationGroupId: group, prefix: 'Agent' });
    return { org, agents };
  }
  const FEATURES = ['VOICE', 'EMAIL', 'WEBCHAT', 'SMS', 'CALL_RECORDING', 'REPORTING', 'CONFERENCE'];

  it.skipIf(!HAVE_CHROMIUM)(
    `[R-LIVE-2][dashboard-layout] a connect-storm organization's nine pools fit one 1366×768 screen, seat pools prominent${SKIPPED}`,
    async () => {
      const { org, agents } = await stormOrg('Storm Layout');
      for (const agent of agents) {
        await gw.ok(START, { input: { userId: agent, channels: ['VOICE'] } }, org.tokens.AGENT_CLIENT);
      }
      const { context, page, problems, foreign } = await openPage({ width: 1366, height: 768 });
      try {
        await signIn(page, org.tokens.SUPERVISOR);
        await poll(() => text(page, 'connection-status')).toBe('Live');
        await poll(() => text(page, 'pool-AGENT_SEAT-inuse')).toBe('3');
        await poll(() => text(page, 'pool-VOICE-total')).toBe('3');
        for (const code of FEATURES) await poll(() => page.getByTestId(`pool-${code}`).isVisible()).toBe(true);

        // The whole page fits the screen: no scrolling, every pool and the chart inside the viewport.
        const height = await page.evaluate(() => document.documentElement.scrollHeight);
        expect(height).toBeLessThanOrEqual(768);
        const box = async (testId: string) => {
          const b = await page.getByTestId(testId).boundingBox();
          if (!b) throw new Error(`${testId} has no box`);
          return b;
        };
        for (const code of ['AGENT_SEAT', 'SUPERVISOR_SEAT', ...FEATURES]) {
          const b = await box(`pool-${code}`);
          expect(b.y + b.height, `pool-${code} ends below the screen`).toBeLessThanOrEqual(768);
          expect(b.x + b.width).toBeLessThanOrEqual(1366);
        }
        const chart = await box('chart');
        expect(chart.y + chart.height).toBeLessThanOrEqual(768);
        // Seat pools are the prominent ones: a seat card has well over twice the area of a feature tile.
        const seat = await box('pool-AGENT_SEAT');
        const tile = await box('pool-VOICE');
        expect(seat.width * seat.height).toBeGreaterThan(2 * tile.width * tile.height);
        // A tile still carries every figure of its pool.
        expect(await text(page, 'pool-VOICE-maxpossible')).toBe('44');
        expect(await text(page, 'pool-VOICE-emergency-capacity')).toBe('4');
        expect(await text(page, 'pool-EMAIL-total')).toBe('0');
        expect(await page.getByTestId('pool-VOICE-bar').getAttribute('aria-label')).toContain('3 of 44 possible');
        expect(problems).toEqual([]);
        expect(foreign).toEqual([]);
        mkdirSync(new URL('../../test-results/', import.meta.url), { recursive: true });
        await page.screenshot({ path: new URL('../../test-results/dashboard-connect-storm.png', import.meta.url).pathname });
      } finally {
        await context.close();
      }
    },
  );

  it.skipIf(!HAVE_CHROMIUM)(
    `[R-LIVE-2][dashboard-chart] the chart is scaled to the usage, not to a maximum far above it${SKIPPED}`,
    async () => {
      const { org, agents } = await stormOrg('Storm Chart');
      const { context, page, problems } = await openPage({ width: 1366, height: 768 });
      try {
        await signIn(page, org.tokens.SUPERVISOR);
        await poll(() => text(page, 'connection-status')).toBe('Live');
        for (const agent of agents) await start(org, agent);
        await poll(() => text(page, 'pool-AGENT_SEAT-inuse')).toBe('3');
        await poll(() => page.getByTestId('chart').getAttribute('aria-label')).toContain('3 in use now');
        // The pixels of the agent line (its exact colour: the dashed maxima are paler) span a good part of the
        // plot: from 0 at the start of the hour to 3 now, while the maximum possible is 45.
        const color = await page.locator('[data-testid="chart-legend"] [data-product="AGENT_SEAT"]').getAttribute('data-color');
        expect(color).toMatch(/^#[0-9a-f]{6}$/i);
        const span = await page.getByTestId('chart').evaluate((canvas: HTMLCanvasElement, hex: string) => {
          const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
          const { width, height } = canvas;
          const pixels = canvas.getContext('2d')!.getImageData(0, 0, width, height).data;
          let minY = Number.POSITIVE_INFINITY;
          let maxY = Number.NEGATIVE_INFINITY;
          // The plot only (its right edge, "now", included): the labels in the right margin are left out.
          for (let y = 0; y < height; y++)
            for (let x = 0; x < width - 81; x++) {
              const i = (y * width + x) * 4;
              if (pixels[i] === r && pixels[i + 1] === g && pixels[i + 2] === b && pixels[i + 3] === 255) {
                minY = Math.min(minY, y);
                maxY = Math.max(maxY, y);
              }
            }
          return (maxY - minY) / height;
        }, color!);
        expect(span).toBeGreaterThan(0.4);
        expect(Number(await page.getByTestId('chart').getAttribute('data-top'))).toBeLessThanOrEqual(6);
        // The maximum is still named, as being above the scale.
        await poll(() => page.getByTestId('chart-off-scale').isVisible()).toBe(true);
        expect(await page.getByTestId('chart').getAttribute('aria-label')).toContain('Above the scale: Agent seat max 45');
        // Feature tiles have their own sparkline, scaled to their own data.
        await poll(() => page.getByTestId('pool-EMAIL-spark').getAttribute('data-high')).toBe('0');
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );

  it.skipIf(!HAVE_CHROMIUM)(
    `[R-LIVE-2][dashboard-picker] the operator picks the organization from a searchable, paged list${SKIPPED}`,
    async () => {
      const created: string[] = [];
      for (let i = 1; i <= 23; i++) {
        const data = await gw.ok<{ createOrganization: { organization: { id: string } } }>(
          `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
          { input: { name: `Picker Org ${String(i).padStart(2, '0')}`, catalog: 'innoacd' } },
        );
        created.push(data.createOrganization.organization.id);
      }
      const { context, page, problems, foreign } = await openPage();
      try {
        await signIn(page, OPERATOR_TOKEN);
        await poll(() => page.getByTestId('org-search').isVisible()).toBe(true);
        await page.getByTestId('org-search').fill('picker org');
        await poll(() => page.locator('[data-testid="org-options"] button').count()).toBe(20);
        await poll(() => text(page, 'org-count')).toBe('20 organizations shown, more follow matching “picker org”.');
        await page.getByTestId('org-more').click();
        await poll(() => page.locator('[data-testid="org-options"] button').count()).toBe(23);
        mkdirSync(new URL('../../test-results/', import.meta.url), { recursive: true });
        await page.screenshot({ path: new URL('../../test-results/dashboard-picker.png', import.meta.url).pathname });
        expect(await page.getByTestId('org-more').isHidden()).toBe(true);
        await page.getByTestId('org-search').fill('Picker Org 07');
        await poll(() => page.locator('[data-testid="org-options"] button').count()).toBe(1);
        await page.getByTestId('org-search').fill('no such organization');
        await poll(() => text(page, 'org-count')).toContain('No organization matches');
        await page.getByTestId('org-search').fill('Picker Org 07');
        await poll(() => page.locator('[data-testid="org-options"] button').count()).toBe(1);
        await page.getByTestId(`org-option-${created[6]}`).click();
        await poll(() => text(page, 'org-name')).toBe('Picker Org 07');
        await poll(() => text(page, 'connection-status')).toBe('Live');
        await poll(() => text(page, 'pool-ACD_AGENT-maxpossible')).toBe('2');
        // The operator may switch to another organization without signing out.
        await page.getByTestId('switch-org').click();
        await poll(() => page.getByTestId('org-search').isVisible()).toBe(true);
        await page.getByTestId('org-search').fill('Picker Org 23');
        await poll(() => page.locator('[data-testid="org-options"] button').count()).toBe(1);
        await page.getByTestId(`org-option-${created[22]}`).click();
        await poll(() => text(page, 'org-name')).toBe('Picker Org 23');
        expect(problems).toEqual([]);
        expect(foreign).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );

  it.skipIf(!HAVE_CHROMIUM)(
    `[R-LIVE-2][dashboard-stale] while the live connection is down the figures are dimmed and marked stale${SKIPPED}`,
    async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const users = await createUsers(gw, org, 2, { configurationGroupId: group, prefix: 'Agent' });
      const { context, page, problems } = await openPage();
      // Every page WebSocket goes through this route to the gateway; `down` cuts it and refuses new ones.
      let down = false;
      const open = new Set<{ close(options?: { code?: number; reason?: string }): Promise<void> }>();
      await page.routeWebSocket(/\/graphql$/, (ws) => {
        if (down) {
          void ws.close({ code: 1013, reason: 'gateway down (test)' });
          return;
        }
        ws.connectToServer();
        open.add(ws);
      });
      try {
        await signIn(page, org.tokens.SUPERVISOR);
        await poll(() => text(page, 'connection-status')).toBe('Live');
        await poll(() => text(page, 'pool-ACD_AGENT-inuse')).toBe('0');
        const dashboard = page.getByTestId('dashboard');
        // The effective opacity of the pool's figures: the product of its own and its ancestors'.
        const opacity = () =>
          page.getByTestId('pool-ACD_AGENT-inuse').evaluate((el) => {
            let o = 1;
            for (let e: Element | null = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
            return o;
          });
        expect(await dashboard.getAttribute('data-stale')).toBeNull();
        expect(await page.getByTestId('stale').isHidden()).toBe(true);
        expect(await opacity()).toBe(1);

        down = true;
        for (const ws of open) await ws.close({ code: 1012, reason: 'restart (test)' });
        open.clear();
        await poll(() => text(page, 'connection-status')).toMatch(/^Reconnecting/);
        await poll(() => dashboard.getAttribute('data-stale')).toBe('');
        await poll(() => text(page, 'stale')).toMatch(/^Stale since \d\d:\d\d:\d\d: .*not updating/);
        await poll(opacity).toBeLessThan(0.6);
        mkdirSync(new URL('../../test-results/', import.meta.url), { recursive: true });
        await page.screenshot({ path: new URL('../../test-results/dashboard-stale.png', import.meta.url).pathname });
        // A change meanwhile is not shown, and the page keeps saying so.
        await start(org, users[0]!);
        expect(await text(page, 'pool-ACD_AGENT-inuse')).toBe('0');
        expect(await dashboard.getAttribute('data-stale')).toBe('');

        down = false;
        await expect.poll(() => text(page, 'connection-status'), { timeout: 20_000, interval: 100 }).toBe('Live');
        await poll(() => text(page, 'pool-ACD_AGENT-inuse')).toBe('1');
        expect(await dashboard.getAttribute('data-stale')).toBeNull();
        expect(await page.getByTestId('stale').isHidden()).toBe(true);
        await poll(opacity).toBe(1);
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );

  // Last: it moves the gateway's clock forward by most of an hour.
  it.skipIf(!HAVE_CHROMIUM)(
    `[R-LIVE-2][R-EMER-1][R-LIFE-2] emergency seats, today's peak, a licence state change and the last hour, live; takes a screenshot${SKIPPED}`,
    async () => {
      // A key whose renewal falls due at 09:45 today (term ends 2026-12-20 09:45, 28 days later).
      gw.clock.set(T0);
      const org = await createOrg(gw, 'connect-storm', 'Acme Contact Center', 'CUST-1');
      await activateKey(
        gw,
        org,
        issueLicenseKey(
          'connect-storm',
          [
            { product: 'BASE', quantity: 14 },
            { product: 'AGENT_SEAT', quantity: 5, emergencyQuantity: 2 },
            { product: 'SUPERVISOR_SEAT', quantity: 2 },
          ],
          { validFrom: '2025-12-20T09:45:00.000Z', keyId: 'ACME-2025-12' },
        ),
      );
      const agentsGroup = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
      const supervisorsGroup = await createGroup(gw, org, 'Supervisors', ['BASE', 'SUPERVISOR_SEAT']);
      // A cap on the agents' group (R-RES-5): the page shows its sites-and-groups panel.
      await gw.ok(
        `mutation($input: SetSeatBoundInput!) { setSeatBound(input: $input) { applied } }`,
        { input: { product: 'AGENT_SEAT', configurationGroupId: agentsGroup, cap: 7 } },
        org.admin,
      );
      const agentNames = [
        'Ada Lovelace',
        'Alan Turing',
        'Grace Hopper',
        'Edsger Dijkstra',
        'Barbara Liskov',
        'Donald Knuth',
        'Frances Allen',
        'Ken Thompson',
        'Radia Perlman',
      ];
      const agents: string[] = [];
      for (const name of agentNames)
        agents.push(await createUser(gw, org.admin, { siteId: org.siteId, name, role: 'AGENT', configurationGroupId: agentsGroup }));
      const supervisors: string[] = [];
      for (const name of ['Margaret Hamilton', 'John Backus', 'Katherine Johnson']) {
        supervisors.push(
          await createUser(gw, org.admin, { siteId: org.siteId, name, role: 'SUPERVISOR', configurationGroupId: supervisorsGroup }),
        );
      }
      const at = (minutes: number) => gw.clock.set(new Date(T0.getTime() + minutes * MINUTE));

      // Before anyone looks: the first half hour, read back by the page from seatHistory.
      const s: Record<string, { id: string; seatKind: string }> = {};
      at(4);
      s.a0 = await start(org, agents[0]!);
      s.a1 = await start(org, agents[1]!);
      at(9);
      s.a2 = await start(org, agents[2]!);
      s.s0 = await start(org, supervisors[0]!);
      at(15);
      s.a3 = await start(org, agents[3]!);
      s.a4 = await start(org, agents[4]!);
      at(21);
      await end(org, s.a1.id);
      at(26);
      s.a5 = await start(org, agents[5]!);
      s.s1 = await start(org, supervisors[1]!);
      at(30);

      const { context, page, problems, foreign } = await openPage({ width: 1280, height: 900 });
      try {
        await signIn(page, org.tokens.SUPERVISOR);
        await poll(() => text(page, 'connection-status')).toBe('Live');
        await poll(() => text(page, 'org-name')).toBe('Acme Contact Center');
        await poll(() => text(page, 'pool-AGENT_SEAT-inuse')).toBe('5');
        await poll(() => text(page, 'pool-AGENT_SEAT-emergency-inuse')).toBe('0');
        await poll(() => text(page, 'pool-SUPERVISOR_SEAT-inuse')).toBe('2');
        // The chart starts from the recorded last hour.
        expect(Number(await page.getByTestId('chart').getAttribute('data-points'))).toBeGreaterThanOrEqual(6);

        // Live: two more agents take the emergency seats; the pool reaches its maximum.
        at(33);
        s.a6 = await start(org, agents[6]!);
        expect(s.a6.seatKind).toBe('EMERGENCY');
        await poll(() => text(page, 'pool-AGENT_SEAT-emergency-inuse')).toBe('1');
        at(37);
        s.a7 = await start(org, agents[7]!);
        await poll(() => text(page, 'pool-AGENT_SEAT-total')).toBe('7');
        expect(await page.getByTestId('pool-AGENT_SEAT').getAttribute('data-level')).toBe('emergency');
        at(41);
        await end(org, s.s0.id);
        await poll(() => text(page, 'pool-SUPERVISOR_SEAT-inuse')).toBe('1');
        at(43);
        await end(org, s.a2.id);
        await poll(() => text(page, 'pool-AGENT_SEAT-total')).toBe('6');

        // 09:46: the sweep records RENEWAL_DUE; the page refreshes the licence on the STATE_CHANGED event.
        at(46);
        expect(await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs())).toBeGreaterThanOrEqual(1);
        await poll(() => page.getByTestId('license-state').getAttribute('data-state')).toBe('RENEWAL_DUE');
        await poll(() => page.getByTestId('warning-RENEWAL_DUE').isVisible()).toBe(true);
        await poll(() => page.locator('[data-testid="events"] li[data-type="STATE_CHANGED"]').count()).toBe(1);
        at(48);
        s.s2 = await start(org, supervisors[2]!);
        await poll(() => text(page, 'pool-SUPERVISOR_SEAT-inuse')).toBe('2');

        await poll(() => text(page, 'pool-AGENT_SEAT-inuse')).toBe('5');
        await poll(() => text(page, 'pool-AGENT_SEAT-capacity')).toBe('5');
        await poll(() => text(page, 'pool-AGENT_SEAT-emergency-inuse')).toBe('1');
        await poll(() => text(page, 'pool-AGENT_SEAT-emergency-capacity')).toBe('2');
        await poll(() => text(page, 'pool-AGENT_SEAT-overage')).toBe('0');
        await poll(() => text(page, 'pool-AGENT_SEAT-maxpossible')).toBe('7');
        await poll(() => text(page, 'pool-AGENT_SEAT-peak')).toBe('7');
        await poll(() => text(page, 'license-valid-until')).toContain('20 Dec 2026');
        await poll(() => text(page, 'license-demo-limit')).toContain('2 agents');
        expect(Number(await page.getByTestId('chart').getAttribute('data-points'))).toBeGreaterThanOrEqual(12);
        expect(await page.getByTestId('events').locator('li').count()).toBeLessThanOrEqual(20);

        expect(problems).toEqual([]);
        expect(foreign).toEqual([]);

        // Let the bar transitions settle, then keep the picture for the README.
        await page.waitForTimeout(600);
        mkdirSync(new URL('../../docs/', import.meta.url), { recursive: true });
        // The README's screenshot is refreshed only on request (UPDATE_SCREENSHOTS=1); otherwise it goes to test-results/.
        const target = process.env.UPDATE_SCREENSHOTS ? '../../docs/dashboard.png' : '../../test-results/dashboard.png';
        mkdirSync(new URL('../../test-results/', import.meta.url), { recursive: true });
        await page.screenshot({ path: new URL(target, import.meta.url).pathname, fullPage: true });
      } finally {
        await context.close();
      }
    },
  );
});
