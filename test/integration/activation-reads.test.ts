import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { createOrg, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, countingDatabase, issueLicenseKey } from '../support/licensing.ts';

/*
 * One activation reads what it decides on once (issue "one house to live in",
 * item 4): the organization row once (under its lock, which the access check
 * shares), its licence keys once, and the payload's licence status is the one
 * the activation computed for the keys it committed, not a second read.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const LICENSE = 'state keyId validFrom validUntil demoAgentLimit fullUse pendingKeyId entitlements { product { code } quantity total }';
const ACTIVATE = `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { ${LICENSE} } } }`;
const STATUS = `query($id: ID!) { organization(id: $id) { license { ${LICENSE} } } }`;

/** Statements that read the organization row (not only its revision). */
const organizationReads = (sql: readonly string[]) => sql.filter((s) => /^select \* from "organizations"/.test(s));
/** Statements that read the organization's stored keys. */
const keyReads = (sql: readonly string[]) => sql.filter((s) => /^select \* from "license_keys" where "organization_id"/.test(s));

for (const kind of DATABASES) {
  describe(`activation reads on ${kind}`, () => {
    let counting: Awaited<ReturnType<typeof countingDatabase>>;
    let gw: TestGateway;
    let org: OrgFixture;

    beforeAll(async () => {
      counting = await countingDatabase(kind);
      // Tokens stay cached: a token read again would add statements that are no part of the activation.
      gw = await startGateway(kind, { now: NOW, database: counting.database, trustedKeys: TRUSTED_KEYS, tokenCache: { ttlMs: 3_600_000 } });
      org = await createOrg(gw, 'xphone-connect');
    });
    afterAll(() => gw?.close());

    async function activate(key: string) {
      // The token is resolved (and cached) before counting.
      await gw.ok(STATUS, { id: org.organizationId }, org.admin);
      counting.reset();
      const result = await gw.gql(ACTIVATE, { input: { organizationId: org.organizationId, key } }, org.admin);
      const sql = counting.sql();
      expect(result.errors).toBeUndefined();
      return { license: result.data?.activateLicenseKey.license, sql };
    }

    for (const [which, keyId, quantity] of [
      ['a first key', 'K-READS-1', 2],
      ['a renewal over a governing key', 'K-READS-2', 3],
    ] as const) {
      it(`activating ${which} reads the organization once and its keys once, and answers the status it committed`, async () => {
        const key = issueLicenseKey(
          'xphone-connect',
          [
            { product: 'SERVER', quantity: 1 },
            { product: 'OFFICE', quantity },
          ],
          { org, keyId: `${keyId}-${kind}` },
        );
        const { license, sql } = await activate(key);
        expect(organizationReads(sql), sql.join('\n')).toHaveLength(1);
        expect(organizationReads(sql)[0]).toMatch(/for no key update$/);
        expect(keyReads(sql), sql.join('\n')).toHaveLength(1);
        expect(license).toMatchObject({ state: 'ACTIVE', keyId: `${keyId}-${kind}`, fullUse: true });
        expect(license.entitlements).toContainEqual({ product: { code: 'OFFICE' }, quantity, total: quantity });
        // What the payload answered is what a read after the commit computes.
        expect((await gw.ok(STATUS, { id: org.organizationId }, org.admin)).organization.license).toEqual(license);
      });
    }

    it('pasting the governing key again reads the organization and its keys once each and changes nothing', async () => {
      const key = issueLicenseKey(
        'xphone-connect',
        [
          { product: 'SERVER', quantity: 1 },
          { product: 'OFFICE', quantity: 5 },
        ],
        { org, keyId: `K-READS-3-${kind}` },
      );
      const first = await activate(key);
      const again = await activate(key);
      expect(organizationReads(again.sql), again.sql.join('\n')).toHaveLength(1);
      expect(keyReads(again.sql), again.sql.join('\n')).toHaveLength(1);
      expect(again.sql.some((s) => /^insert into "license_keys"/.test(s))).toBe(false);
      expect(again.license).toEqual(first.license);
    });
  });
}
