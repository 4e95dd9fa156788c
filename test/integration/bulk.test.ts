import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.ts';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { activateKey, createGroup, eventsOf, issueLicenseKey, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';

/*
 * Large organizations: one change can grant thousands of licences at once.
 * Statements must stay below the parameter limits (PostgreSQL 65,535;
 * PGlite 32,767), whatever the number of users.
 */
for (const kind of DATABASES) {
  describe(`bulk on ${kind}`, () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());

    // Above the per-statement limit of each database without chunking: 9 parameters an event.
    const count = kind === 'postgres' ? 8000 : 4000;

    it(`[R-KEY-4] activating a key for ${count} configured users grants them all in one transaction, with an event each`, async () => {
      const org = await licensedOrg(gw, 'zoom-contact-center', null);
      const group = await createGroup(gw, org, 'Agents', ['PREMIUM']);
      const now = gw.clock.now();
      const users = Array.from({ length: count }, (_, i) => ({
        organization_id: org.organizationId,
        id: newId(now),
        site_id: org.siteId,
        configuration_group_id: group,
        team_id: null,
        name: `Agent ${i + 1}`,
        email: null,
        role: 'AGENT',
        status: 'ACTIVE',
        created_at: now,
      }));
      // Setup volume goes in directly; the change under test goes through the API.
      for (let i = 0; i < users.length; i += 1000) {
        const chunk = users.slice(i, i + 1000);
        await gw.database.db.insertInto('users').values(chunk).execute();
        await gw.database.db
          .insertInto('assignments')
          .values(
            chunk.map((u) => ({
              organization_id: org.organizationId,
              user_id: u.id,
              product_code: 'PREMIUM',
              source: 'GROUP' as const,
              configured_at: now,
            })),
          )
          .execute();
      }
      await activateKey(
        gw,
        org,
        issueLicenseKey('zoom-contact-center', [{ product: 'PREMIUM', quantity: count }], { org, keyId: `K-BULK-${kind}` }),
      );
      const granted = (await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'LICENSE_GRANTED' && e.product_code === 'PREMIUM');
      expect(granted.length).toBe(count);
      const row = await gw.database.db
        .selectFrom('user_grants')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('organization_id', '=', org.organizationId)
        .where('product_code', '=', 'PREMIUM')
        .where('status', '=', 'GRANTED')
        .executeTakeFirstOrThrow();
      expect(Number(row.n)).toBe(count);
    }, 240_000);
  });
}
