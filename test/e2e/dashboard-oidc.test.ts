import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { DATABASES } from '../support/databases.ts';
import { listen, type ListeningApp } from '../support/listen.ts';
import { gatewayOidc, startProvider, type TestProvider } from '../support/oidc.ts';

/*
 * The dashboard signs in through OpenID Connect (R-AUTH-5): the
 * authorization-code flow with PKCE as a public client, against a real
 * provider (oidc-provider and its development login form), in headless
 * Chromium. The code verifier waits in sessionStorage; the browser comes back
 * to /dashboard with the code, the page exchanges it and shows the
 * organization its token names.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIPPED = HAVE_CHROMIUM ? '' : ` (skipped: ${CHROMIUM} is not installed; apt-get install chromium)`;
const CREATE_ORG = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`;
const kind = DATABASES[0]!;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe(`dashboard sign-in through OpenID Connect on ${kind}`, () => {
  let gw: ListeningApp;
  let provider: TestProvider;
  let browser: Browser | null = null;

  beforeAll(async () => {
    // The provider's issuer URL goes into the gateway's settings, the gateway's /dashboard into the provider's client.
    const providerPort = await freePort();
    gw = await listen(kind, {
      clock: new ManualClock(new Date()),
      oidc: gatewayOidc([`http://127.0.0.1:${providerPort}`], { dashboardClientId: 'licensing-dashboard' }),
    });
    await gw.gql(CREATE_ORG, { input: { name: 'Acme Contact Center', catalog: 'innoacd', customerRef: 'CUST-DASH' } });
    provider = await startProvider({
      clients: [],
      port: providerPort,
      dashboard: {
        clientId: 'licensing-dashboard',
        redirectUris: [`${gw.base}/dashboard`],
        claims: { org: 'CUST-DASH', roles: ['SUPERVISOR'] },
      },
    });
    if (HAVE_CHROMIUM) {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      });
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await provider?.stop();
  });

  it.skipIf(!HAVE_CHROMIUM)(
    `[R-AUTH-5] "Sign in with your identity provider": authorization code + PKCE, back to the dashboard signed in${SKIPPED}`,
    async () => {
      const context = await browser!.newContext();
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy/.test(message.text())) problems.push(message.text());
      });
      try {
        await page.goto(`${gw.base}/dashboard`);
        await page.getByTestId('oidc-sign-in-button').click();
        // The provider's development login form (any login works there; the claims are the client's).
        await page.waitForURL((url) => url.port === String(provider.port), { timeout: 15_000 });
        await page.locator('input[name="login"]').fill('alice');
        await page.locator('input[name="password"]').fill('any');
        await page.locator('button[type="submit"]').click();
        // A consent prompt, if the provider shows one.
        await page.waitForURL((url) => url.pathname === '/dashboard' || /consent|interaction/.test(url.pathname), { timeout: 15_000 });
        if (new URL(page.url()).pathname !== '/dashboard') await page.locator('button[type="submit"]').click();
        await page.waitForURL((url) => url.pathname === '/dashboard', { timeout: 15_000 });
        await expect.poll(() => page.getByTestId('org-name').textContent(), { timeout: 15_000 }).toBe('Acme Contact Center');
        // The code and state are gone from the address bar; the verifier from sessionStorage.
        expect(new URL(page.url()).search).toBe('');
        expect(await page.evaluate(() => sessionStorage.getItem('dashboard.oidc.pkce'))).toBeNull();
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    },
    60_000,
  );
});
