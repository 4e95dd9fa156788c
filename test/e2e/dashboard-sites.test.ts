import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { createGroup, createUsers, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { listenOn } from '../support/listen.ts';
import { startSession } from '../support/sessions.ts';

/*
 * R-RES-6 in the live dashboard: the site filter lists every site of the
 * pools' breakdown, and the table shows the chosen site's reservation, seats
 * in use and cap, per site and configuration group, updated live.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const kind = DATABASES[0]!;
const NOW = new Date('2026-11-22T10:00:00.000Z');

describe(`[R-RES-6] /dashboard site filter on ${kind}`, () => {
  let gw: TestGateway;
  let base: string;
  let browser: Browser | null = null;

  beforeAll(async () => {
    gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS, now: NOW });
    base = `http://127.0.0.1:${(await listenOn(gw)).port}`;
    if (HAVE_CHROMIUM) {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
      });
    }
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
  });

  it.skipIf(!HAVE_CHROMIUM)('[R-RES-6] the site filter shows one site’s reserved, in use and cap per pool and group, live', async () => {
    const org = await licensedOrg(gw, 'connect-storm', [
      { product: 'BASE', quantity: 10 },
      { product: 'AGENT_SEAT', quantity: 6 },
    ]);
    const munich = (
      await gw.ok<{ createSite: { site: { id: string } } }>(
        `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
        { input: { organizationId: org.organizationId, name: 'Munich' } },
        org.admin,
      )
    ).createSite.site.id;
    const hqGroup = await createGroup(gw, org, 'HQ agents', ['BASE', 'AGENT_SEAT']);
    const temps = await createGroup(gw, org, 'Temps', ['BASE', 'AGENT_SEAT'], [], munich);
    const hq = await createUsers(gw, org, 2, { prefix: 'HQ', configurationGroupId: hqGroup });
    const munichTemps = await createUsers(gw, org, 3, { prefix: 'Temp', siteId: munich, configurationGroupId: temps });
    for (const input of [
      { product: 'AGENT_SEAT', siteId: munich, reserved: 2, cap: 4 },
      { product: 'AGENT_SEAT', configurationGroupId: temps, cap: 2 },
    ])
      await gw.ok(`mutation($input: SetSeatBoundInput!) { setSeatBound(input: $input) { applied } }`, { input }, org.admin);
    await startSession(gw, org, hq[0]!);
    await startSession(gw, org, munichTemps[0]!);

    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'UTC' });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });
    try {
      await page.goto(`${base}/dashboard`);
      await page.getByTestId('token-input').fill(org.tokens.SUPERVISOR);
      await page.getByTestId('login-submit').click();
      await poll(() => page.getByTestId('connection-status').textContent()).toBe('Live');
      await poll(() => page.getByTestId('sites').isVisible()).toBe(true);
      const options = () => page.getByTestId('site-filter').locator('option').allTextContents();
      await poll(options).toEqual(['All sites', 'Headquarters', 'Munich']);
      // All sites: Headquarters (no bound), Munich and its Temps group.
      const rows = () => page.getByTestId('site-rows').locator('tr').count();
      await poll(rows).toBe(3);

      await page.getByTestId('site-filter').selectOption({ label: 'Munich' });
      await poll(rows).toBe(2);
      const cell = (unit: string, what: string) => page.getByTestId(`unit-AGENT_SEAT-${unit}-${what}`).textContent();
      expect(await cell(munich, 'reserved')).toBe('2');
      expect(await cell(munich, 'cap')).toBe('4');
      await poll(() => cell(munich, 'inuse')).toBe('1');
      await poll(() => cell(temps, 'inuse')).toBe('1');

      // Live: another temp logs in; the group reaches its cap, the next is refused naming it.
      await startSession(gw, org, munichTemps[1]!);
      await poll(() => cell(temps, 'inuse')).toBe('2');
      await poll(() => cell(temps, 'cap')).toBe('2 (reached)');
      expect(await page.getByTestId(`unit-AGENT_SEAT-${temps}`).getAttribute('data-full')).toBe('');
      expect((await startSession(gw, org, munichTemps[2]!)).denial?.code).toBe('CAP_REACHED');
      await poll(() => cell(munich, 'inuse')).toBe('2');

      await page.getByTestId('site-filter').selectOption({ label: 'Headquarters' });
      await poll(rows).toBe(1);
      await poll(() => cell(org.siteId, 'inuse')).toBe('1');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
