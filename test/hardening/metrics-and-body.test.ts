import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { DATABASES } from '../support/databases.ts';
import { OPERATOR_TOKEN, createUser, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, createGroup, licensedOrg } from '../support/licensing.ts';
import { startGranted } from '../support/sessions.ts';
import { leaksIn, listenOn } from '../support/listen.ts';

/*
 * Two items of the security issue:
 * - [R-SEC-7] /metrics (open unless METRICS_TOKEN is set) listed every
 *   organization id with its live seat counts; now it aggregates by product
 *   unless METRICS_PER_ORGANIZATION=true.
 * - [R-SEC-4] a body starting with a UTF-8 BOM answered with the JSON
 *   parser's message in extensions.originalError; invalid UTF-8 was stored as
 *   U+FFFD. Now the BOM is ignored (a JSON parser may ignore one), invalid UTF-8 is
 *   a 400 BAD_REQUEST, and no parse error carries originalError.
 */

for (const kind of DATABASES) {
  describe(`${kind}: [R-SEC-7] /metrics shows no organization ids unless configured`, () => {
    let gw: TestGateway;
    let base: string;
    let a: OrgFixture;
    let b: OrgFixture;
    let perOrganization: App;
    let perOrganizationBase: string;

    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
      base = `http://127.0.0.1:${(await listenOn(gw)).port}`;
      // A second instance on the same database, configured to show organizations.
      perOrganization = createApp({
        database: gw.database,
        clock: gw.clock,
        operatorToken: OPERATOR_TOKEN,
        sweepIntervalMs: 0,
        metrics: createMetrics({ perOrganization: true }),
      });
      perOrganizationBase = `http://127.0.0.1:${(await perOrganization.start(0, '127.0.0.1')).port}`;
      a = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      b = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      for (const [org, count] of [
        [a, 2],
        [b, 1],
      ] as const) {
        const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
        for (let i = 0; i < count; i++)
          await startGranted(
            gw,
            org,
            await createUser(gw, org.admin, { siteId: org.siteId, name: `Agent ${i}`, configurationGroupId: group }),
          );
      }
    });
    afterAll(async () => {
      await perOrganization.stop();
      await gw.close();
    });

    it('by default: seats_in_use per product, summed over organizations; no organization id anywhere', async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toMatch(/^seats_in_use\{product="ACD_AGENT"\} 3$/m);
      expect(text).not.toContain(a.organizationId);
      expect(text).not.toContain(b.organizationId);
      expect(text).not.toMatch(/organization=/);
    });

    it('with METRICS_PER_ORGANIZATION=true: one series per organization and product', async () => {
      const text = await (await fetch(`${perOrganizationBase}/metrics`)).text();
      expect(text).toContain(`seats_in_use{organization="${a.organizationId}",product="ACD_AGENT"} 2`);
      expect(text).toContain(`seats_in_use{organization="${b.organizationId}",product="ACD_AGENT"} 1`);
    });
  });

  describe(`${kind}: [R-SEC-4] request bodies: a UTF-8 BOM is ignored, invalid UTF-8 is refused, parse errors carry no originalError`, () => {
    let gw: TestGateway;
    let base: string;
    let siteId: string;

    beforeAll(async () => {
      gw = await startGateway(kind);
      base = `http://127.0.0.1:${(await listenOn(gw)).port}`;
      const org = await gw.ok('mutation { createOrganization(input: { name: "Bytes", catalog: "innoacd" }) { organization { id } } }');
      const site = await gw.ok('mutation($id: ID!) { createSite(input: { organizationId: $id, name: "HQ" }) { site { id } } }', {
        id: org.createOrganization.organization.id,
      });
      siteId = site.createSite.site.id;
    });
    afterAll(() => gw.close());

    async function send(body: Buffer, contentType = 'application/json') {
      const response = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': contentType, accept: 'application/graphql-response+json', authorization: `Bearer ${OPERATOR_TOKEN}` },
        body: new Uint8Array(body),
      });
      const text = await response.text();
      expect(leaksIn(text), text).toEqual([]);
      expect(text).not.toContain('originalError');
      return {
        status: response.status,
        text,
        json: JSON.parse(text) as {
          data?: Record<string, any> | null;
          errors?: { message: string; extensions?: Record<string, unknown> }[];
        },
      };
    }

    const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

    it('a body starting with a BOM is read as if it had none', async () => {
      for (const contentType of ['application/json', 'application/json; charset=utf-8', 'application/graphql+json']) {
        const answer = await send(Buffer.concat([BOM, Buffer.from('{"query": "{ catalogs { code } }"}')]), contentType);
        expect(answer.status, contentType).toBe(200);
        expect(answer.json.errors).toBeUndefined();
        expect(answer.json.data?.catalogs.length).toBeGreaterThan(0);
      }
    });

    it("broken JSON, with or without a BOM: 400 BAD_REQUEST without the parser's message", async () => {
      for (const body of [
        Buffer.concat([BOM, Buffer.from('{"query": ')]),
        Buffer.from('{"query": '),
        Buffer.concat([BOM, BOM, Buffer.from('{}')]),
      ]) {
        const answer = await send(body);
        expect(answer.status).toBe(400);
        expect(answer.json.errors?.[0]?.extensions).toEqual({ code: 'BAD_REQUEST' });
        expect(answer.json.errors?.[0]?.message).toBe('POST body sent invalid JSON.');
      }
    });

    it('invalid UTF-8 anywhere in the body: 400 BAD_REQUEST naming the encoding; nothing is stored', async () => {
      const query = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id name } } }';
      const prefix = Buffer.from(
        `{"query": ${JSON.stringify(query)}, "variables": {"input": {"siteId": "${siteId}", "role": "AGENT", "name": "Bad `,
      );
      const suffix = Buffer.from(' name"}}}');
      for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xc0, 0xaf]]) {
        const answer = await send(Buffer.concat([prefix, Buffer.from(bad), suffix]));
        expect(answer.status, bad.join(',')).toBe(400);
        expect(answer.json.errors?.[0]?.extensions).toEqual({ code: 'BAD_REQUEST', rule: 'R-SEC-4' });
        expect(answer.json.errors?.[0]?.message).toMatch(/UTF-8/);
      }
      const stored = await gw.database.db.selectFrom('users').select('name').where('site_id', '=', siteId).execute();
      expect(stored).toEqual([]);
      // The same request in valid UTF-8 (é) is stored as sent.
      const good = await send(Buffer.concat([prefix, Buffer.from('é', 'utf8'), suffix]));
      expect(good.json.data?.createUser.user.name).toBe('Bad é name');
    });

    it('invalid UTF-8 in a body of the other media types Yoga reads (application/graphql, form, multipart): 400 BAD_REQUEST naming the encoding; nothing is stored', async () => {
      const [before, after] = [
        `mutation { createUser(input: { siteId: "${siteId}", role: AGENT, name: "Other `,
        ' name" }) { user { id name } } }',
      ];
      const literal = (name: Buffer) => Buffer.concat([Buffer.from(before), name, Buffer.from(after)]);
      const form = (name: Buffer) =>
        Buffer.concat([Buffer.from(`query=${encodeURIComponent(before)}`), name, Buffer.from(encodeURIComponent(after))]);
      const [jsonBefore, jsonAfter] = JSON.stringify(`${before}|${after}`).split('|') as [string, string];
      const multipart = (name: Buffer) =>
        Buffer.concat([
          Buffer.from(`--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query": ${jsonBefore}`),
          name,
          Buffer.from(`${jsonAfter}}\r\n--b--\r\n`),
        ]);
      for (const [contentType, body] of [
        ['application/graphql', literal],
        ['application/x-www-form-urlencoded', form],
        ['multipart/form-data; boundary=b', multipart],
      ] as const) {
        for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80]]) {
          const answer = await send(body(Buffer.from(bad)), contentType);
          expect(answer.status, `${contentType} ${bad.join(',')}`).toBe(400);
          expect(answer.json.errors?.[0]?.extensions).toEqual({ code: 'BAD_REQUEST', rule: 'R-SEC-4' });
        }
      }
      const stored = await gw.database.db.selectFrom('users').select('name').where('name', 'like', 'Other%').execute();
      expect(stored).toEqual([]);
      // Valid UTF-8 in those media types is read as sent.
      for (const [contentType, body, name] of [
        ['application/graphql', literal, 'é'],
        ['application/x-www-form-urlencoded', form, 'ü'],
        ['multipart/form-data; boundary=b', multipart, 'ß'],
      ] as const) {
        const good = await send(body(Buffer.from(name, 'utf8')), contentType);
        expect(good.json.data?.createUser.user.name, contentType).toBe(`Other ${name} name`);
      }
    });

    it('a multipart body Yoga cannot read: 400 BAD_REQUEST, never an error without a code', async () => {
      const answer = await send(
        Buffer.from('--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":\r\n--b--\r\n'),
        'multipart/form-data; boundary=b',
      );
      expect(answer.status).toBe(400);
      expect(answer.json.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST' });
    });
  });
}

describe('[R-SEC-7] METRICS_PER_ORGANIZATION', () => {
  it('is false by default; true or false when set; anything else names the variable', () => {
    expect(loadConfig({ OPERATOR_TOKEN }).metricsPerOrganization).toBe(false);
    expect(loadConfig({ OPERATOR_TOKEN, METRICS_PER_ORGANIZATION: 'true' }).metricsPerOrganization).toBe(true);
    expect(loadConfig({ OPERATOR_TOKEN, METRICS_PER_ORGANIZATION: 'false' }).metricsPerOrganization).toBe(false);
    expect(() => loadConfig({ OPERATOR_TOKEN, METRICS_PER_ORGANIZATION: 'sometimes' })).toThrow(/^METRICS_PER_ORGANIZATION: /);
  });
});
