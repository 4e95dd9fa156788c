import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { createOrg, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';

/*
 * First contact: the GraphiQL page in a real headless Chromium, used like a
 * person would: it opens with the README's tabs; in the SeatUsage tab the
 * Variables and Headers editors are filled in and the subscription is run.
 * GraphiQL opens its WebSocket with connection_init {} and sends the Headers
 * tab's token in the subscribe message; the result pane must show seat
 * usage, not UNAUTHENTICATED.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIPPED = HAVE_CHROMIUM ? '' : ` (skipped: ${CHROMIUM} is not installed; apt-get install chromium)`;

const kind = DATABASES[0]!;

describe(`GraphiQL in headless Chromium on ${kind}${SKIPPED}`, { timeout: 240_000 }, () => {
  let gw: TestGateway;
  let base: string;
  let org: OrgFixture;
  let browser: Browser | null = null;

  beforeAll(async () => {
    gw = await startGateway(kind);
    const address = await gw.app.start(0, '127.0.0.1');
    base = `http://127.0.0.1:${address.port}`;
    org = await createOrg(gw, 'innoacd', `GraphiQL browser ${kind}`);
    if (HAVE_CHROMIUM) {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      });
    }
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
  });

  /** An editor's text as shown (Monaco renders spaces as no-break spaces). */
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (the rendered text), not a DOM node's
  const textOf = async (page: Page, selector: string) => (await page.locator(selector).innerText()).replace(/\u00a0/g, ' ');

  /** Replaces the text of the visible editor of the editor tools (Variables or Headers) as a person pasting it would. */
  async function fillTool(page: Page, tool: 'Variables' | 'Headers', text: string): Promise<void> {
    await page.locator('.graphiql-editor-tools button', { hasText: tool }).click();
    const editor = page.locator('.graphiql-editor-tool .monaco-editor:visible').first();
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(text);
  }

  it.skipIf(!HAVE_CHROMIUM)(
    'a subscription run with the Headers tab set shows its events, with the token sent in the subscribe message',
    async () => {
      const context = await browser!.newContext();
      const page = await context.newPage();
      const sent: string[] = [];
      page.on('websocket', (socket) => socket.on('framesent', (frame) => sent.push(String(frame.payload))));
      await page.goto(`${base}/graphql`, { timeout: 120_000 });
      await page.waitForSelector('.graphiql-tab', { timeout: 120_000 });
      const tabs = page.locator('.graphiql-tab');
      expect(await tabs.count()).toBe(8);
      // The tabs slide into place (framer-motion transforms): a dispatched click, not a pointer at coordinates.
      await page.locator('.graphiql-tab-button', { hasText: 'SeatUsage' }).dispatchEvent('click');
      await expect.poll(() => textOf(page, '.graphiql-query-editor'), { timeout: 30_000 }).toContain('subscription SeatUsage');

      await fillTool(page, 'Variables', JSON.stringify({ organizationId: org.organizationId }));
      await fillTool(page, 'Headers', JSON.stringify({ Authorization: `Bearer ${org.tokens.SUPERVISOR}` }));
      await page.locator('.graphiql-execute-button').click();

      await expect.poll(() => textOf(page, '.graphiql-response'), { timeout: 60_000 }).toContain('"pools"');
      const text = await textOf(page, '.graphiql-response');
      expect(text).toContain('ACD_AGENT');
      expect(text).not.toContain('UNAUTHENTICATED');
      // What GraphiQL sent: connection_init without a token, the token in the subscribe message.
      const frames = sent.map((f) => JSON.parse(f) as { type: string; payload?: Record<string, any> });
      expect(frames.find((f) => f.type === 'connection_init')?.payload ?? {}).toEqual({});
      expect(frames.find((f) => f.type === 'subscribe')?.payload?.extensions?.headers).toEqual({
        Authorization: `Bearer ${org.tokens.SUPERVISOR}`,
      });
      await context.close();
    },
  );
});
