import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { codeOf, createUser, startGateway, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, createGroup, createUsers, licensedOrg } from '../support/licensing.ts';
import { END_SESSION, START_SESSION } from '../support/sessions.ts';

/*
 * What the screens read (docs/rules.md R-MAP-2, R-METER-2, R-CAT-3,
 * R-EXPLAIN-1): the licence type the key bought in the licence mapping, the
 * seat chart's value in force at its start, the personal settings a function
 * keeps, and explanation steps with stable codes.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const HOUR = 3_600_000;

const MAPPING = `query($id: ID!) { organization(id: $id) { licenseMapping { product { code allocation } licenseType total concurrentTotal } } }`;
const HISTORY = `query($id: ID!, $from: DateTime!, $to: DateTime!) { organization(id: $id) { seatHistory(from: $from, to: $to) { product { code } at inUse } } }`;
const CATALOG = `query($code: String!) { catalog(code: $code) { products { code settings { name description } } } }`;
const SET_SETTING = `mutation($input: SetUserSettingInput!) { setUserSetting(input: $input) { user { id settings { function { code } name value } } } }`;
const EXPLAIN = `query($id: ID!, $product: String!) {
  user(id: $id) { explain(product: $product) { granted steps details { code text parameters { name value } } } }
}`;
const SCHEMA_ENUM = `{ __type(name: "ExplanationStepCode") { enumValues { name description } } }`;

type Step = { code: string; text: string; parameters: { name: string; value: string }[] };
const paramsOf = (s: Step | undefined) => Object.fromEntries((s?.parameters ?? []).map((p) => [p.name, p.value]));

for (const kind of DATABASES) {
  describe(`screens of the seed rules on ${kind}`, () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    it('[R-MAP-2] the licence type is what the governing key bought: a CONCURRENT PREMIUM reads CONCURRENT on Zoom', async () => {
      const org = await licensedOrg(gw, 'zoom-contact-center', [
        { product: 'ESSENTIALS', quantity: 10, allocation: 'NAMED' },
        { product: 'PREMIUM', quantity: 25, allocation: 'CONCURRENT' },
      ]);
      const rows = (await gw.ok(MAPPING, { id: org.organizationId }, org.admin)).organization.licenseMapping as {
        product: { code: string; allocation: string };
        licenseType: string;
        total: number;
        concurrentTotal: number;
      }[];
      const row = (code: string) => rows.find((r) => r.product.code === code);
      // The catalog's default stays on the product; the row says what was bought.
      expect(row('PREMIUM')).toEqual({
        product: { code: 'PREMIUM', allocation: 'NAMED' },
        licenseType: 'CONCURRENT',
        total: 25,
        concurrentTotal: 25,
      });
      expect(row('ESSENTIALS')).toMatchObject({ licenseType: 'NAMED', total: 10, concurrentTotal: 0 });
      // Not bought: the catalog's default.
      expect(row('ELITE')).toMatchObject({ product: { allocation: 'NAMED' }, licenseType: 'NAMED', total: 0 });
      expect(row('VIRTUAL_AGENT')).toMatchObject({ licenseType: 'ACCOUNT' });
    });

    it('[R-METER-2] seatHistory starts with the value in force at `from`, also before the first change', async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const [a, b] = await createUsers(gw, org, 2, { configurationGroupId: group });
      const t0 = gw.clock.now();
      gw.clock.set(new Date(t0.getTime() + HOUR));
      const started = await gw.ok(START_SESSION, { input: { userId: a } }, org.tokens.AGENT_CLIENT);
      gw.clock.set(new Date(t0.getTime() + 2 * HOUR));
      await gw.ok(START_SESSION, { input: { userId: b } }, org.tokens.AGENT_CLIENT);
      gw.clock.set(new Date(t0.getTime() + 3 * HOUR));
      await gw.ok(END_SESSION, { input: { sessionId: started.startSession.session.id } }, org.tokens.AGENT_CLIENT);

      const history = async (from: Date, to: Date) =>
        (
          (await gw.ok(HISTORY, { id: org.organizationId, from, to }, org.admin)).organization.seatHistory as {
            product: { code: string };
            at: string;
            inUse: number;
          }[]
        ).map((p) => [p.product.code, new Date(p.at).getTime() - t0.getTime(), p.inUse]);

      // From before the first change: the chart starts at 0 at `from`.
      expect(await history(t0, new Date(t0.getTime() + 4 * HOUR))).toEqual([
        ['ACD_AGENT', 0, 0],
        ['ACD_AGENT', HOUR, 1],
        ['ACD_AGENT', 2 * HOUR, 2],
        ['ACD_AGENT', 3 * HOUR, 1],
      ]);
      // From between changes: the value then in force, at `from`.
      expect(await history(new Date(t0.getTime() + 1.5 * HOUR), new Date(t0.getTime() + 4 * HOUR))).toEqual([
        ['ACD_AGENT', 1.5 * HOUR, 1],
        ['ACD_AGENT', 2 * HOUR, 2],
        ['ACD_AGENT', 3 * HOUR, 1],
      ]);
      // A change exactly at `from` is the value in force: one point, not two.
      expect(await history(new Date(t0.getTime() + 2 * HOUR), new Date(t0.getTime() + 4 * HOUR))).toEqual([
        ['ACD_AGENT', 2 * HOUR, 2],
        ['ACD_AGENT', 3 * HOUR, 1],
      ]);
      // An interval without any change yet: the pool's 0 at `from`.
      expect(await history(new Date(t0.getTime() - HOUR), t0)).toEqual([['ACD_AGENT', -HOUR, 0]]);
    });

    it('[R-CAT-3] a function lists its personal settings with descriptions; setUserSetting takes exactly those', async () => {
      const catalog = (await gw.ok(CATALOG, { code: 'xphone-connect' }, null)).catalog.products as {
        code: string;
        settings: { name: string; description: string }[];
      }[];
      const settingsOf = (code: string) => catalog.find((p) => p.code === code)?.settings ?? [];
      expect(settingsOf('VOICEMAIL').map((s) => s.name)).toEqual(['voicemailBox', 'voicemailGreetings']);
      expect(settingsOf('FAX').map((s) => s.name)).toEqual(['faxReception', 'faxJournal']);
      expect(settingsOf('SERVER')).toEqual([]);
      for (const p of catalog) for (const s of p.settings) expect(s.description.length, `${p.code}.${s.name}`).toBeGreaterThan(10);

      const org = await licensedOrg(gw, 'xphone-connect', [
        { product: 'SERVER', quantity: 1 },
        { product: 'IP_CHANNEL', quantity: 2 },
        { product: 'VOICEMAIL', quantity: 5 },
      ]);
      const group = await createGroup(gw, org, 'Voicemail', ['VOICEMAIL']);
      const user = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Vera', configurationGroupId: group });
      // Every listed name is accepted …
      for (const s of settingsOf('VOICEMAIL')) {
        const set = await gw.gql(SET_SETTING, { input: { userId: user, product: 'VOICEMAIL', name: s.name, value: 'on' } }, org.admin);
        expect(set.errors, s.name).toBeUndefined();
      }
      // … and a name it does not list is refused, pointing at the list.
      const wrong = await gw.gql(
        SET_SETTING,
        { input: { userId: user, product: 'VOICEMAIL', name: 'faxReception', value: 'x' } },
        org.admin,
      );
      expect(codeOf(wrong)).toBe('BAD_USER_INPUT');
      expect(wrong.errors?.[0]?.extensions).toMatchObject({ field: 'input.name', rule: 'R-CAT-3' });
      expect(wrong.errors?.[0]?.message).toContain('Product.settings');
    });

    it('[R-EXPLAIN-1] every explanation step has a stable code, the same text and its parameters', async () => {
      const org = await licensedOrg(gw, 'xphone-connect', [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFICE', quantity: 1 },
      ]);
      const group = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [first, second] = await createUsers(gw, org, 2, { configurationGroupId: group, stepMs: 1000 });
      const preparing = await createUser(gw, org.admin, {
        siteId: org.siteId,
        name: 'Pia',
        status: 'PREPARING',
        configurationGroupId: group,
      });
      const explain = async (userId: string, product: string) =>
        (await gw.ok(EXPLAIN, { id: userId, product }, org.admin)).user.explain as { granted: boolean; steps: string[]; details: Step[] };

      const granted = await explain(first!, 'OFFICE');
      expect(granted.details.map((d) => d.text)).toEqual(granted.steps);
      expect(granted.details.map((d) => d.code)).toEqual([
        'LICENSE_STATE',
        'ENTITLED',
        'CONFIGURED_BY_GROUP',
        'PREREQUISITES_MET',
        'RANK_GRANTED',
      ]);
      expect(paramsOf(granted.details[0])).toEqual({ state: 'ACTIVE' });
      expect(paramsOf(granted.details[1])).toEqual({ product: 'OFFICE', total: '1', allocation: 'NAMED' });
      expect(paramsOf(granted.details[4])).toEqual({ rank: '1', competing: '2', available: '1' });

      const refused = await explain(second!, 'OFFICE');
      expect(refused.granted).toBe(false);
      expect(refused.details.at(-1)?.code).toBe('RANK_NOT_GRANTED');
      expect(paramsOf(refused.details.at(-1))).toEqual({ rank: '2', competing: '2', available: '1', bound: '0' });

      const notActive = await explain(preparing, 'OFFICE');
      expect(notActive.details.at(-1)).toMatchObject({ code: 'USER_NOT_ACTIVE', parameters: [{ name: 'status', value: 'PREPARING' }] });
      expect((await explain(first!, 'FAX')).details.map((d) => d.code)).toEqual(['LICENSE_STATE', 'NOT_ENTITLED', 'NOT_CONFIGURED']);

      // The codes are an enum of the schema, each described.
      const values = (await gw.ok(SCHEMA_ENUM, {})).__type.enumValues as { name: string; description: string }[];
      expect(values.map((v) => v.name)).toEqual(expect.arrayContaining(['LICENSE_STATE', 'RANK_GRANTED', 'USER_NOT_ACTIVE']));
      for (const v of values) expect(v.description, v.name).toBeTruthy();
    });
  });
}
