import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.ts';
import { DATABASES } from '../support/databases.ts';
import { codeOf, createOrg, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';

/** The most sites (and teams) one organization may have: what the operation cost assumes of `Organization.sites`/`teams`. */
const MAX = 500;

/*
 * An organization's sites and teams are plain lists (the contract's), so the
 * operation cost can only be true if their length is bounded. Found: 3,000
 * sites made `sites { users(first: 40) { … } }` cost about 8,000 on paper and
 * 18 s of work on PGlite. The bound holds at creation, race-safe (the
 * organization row is locked), and the cost assumes it.
 */
for (const kind of DATABASES) {
  describe(`[R-SEC-3] sites and teams per organization on ${kind}`, () => {
    let gw: TestGateway;
    let org: OrgFixture;

    beforeAll(async () => {
      gw = await startGateway(kind);
      org = await createOrg(gw, 'connect-storm');
      // Fill up to one below the bound directly (one site exists already), as many earlier creations would have.
      const now = new Date('2026-11-22T10:00:00.000Z');
      const rows = (prefix: string, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          organization_id: org.organizationId,
          id: newId(now),
          name: `${prefix} ${i}`,
          created_at: now,
        }));
      await gw.database.db
        .insertInto('sites')
        .values(rows('Site', MAX - 2))
        .execute();
      await gw.database.db
        .insertInto('teams')
        .values(rows('Team', MAX - 1).map((r) => ({ ...r, leader_id: null })))
        .execute();
    });
    afterAll(async () => {
      await gw?.close();
    });

    it('[R-SEC-3] the 500th site is created, the 501st refused naming the bound; two racing for the last place: exactly one wins', async () => {
      const create = (name: string) =>
        gw.gql(
          'mutation($i: CreateSiteInput!) { createSite(input: $i) { site { id } } }',
          { i: { organizationId: org.organizationId, name } },
          org.admin,
        );
      const [a, b] = await Promise.all([create('Racer A'), create('Racer B')]);
      const won = [a, b].filter((r) => !r.errors);
      expect(won).toHaveLength(1);
      const lost = [a, b].find((r) => r.errors)!;
      expect(codeOf(lost)).toBe('BAD_USER_INPUT');
      expect(lost.errors?.[0]?.message).toMatch(/500 sites/);
      expect(lost.errors?.[0]?.extensions).toMatchObject({ field: 'input.organizationId', rule: 'R-SEC-3' });
      const count = await sql<{ n: number }>`select count(*)::int as n from sites where organization_id = ${org.organizationId}`.execute(
        gw.database.db,
      );
      expect(count.rows[0]?.n).toBe(MAX);
    });

    it('[R-SEC-3] the 500th team is created, the 501st refused naming the bound', async () => {
      const create = (name: string) =>
        gw.gql(
          'mutation($i: CreateTeamInput!) { createTeam(input: $i) { team { id } } }',
          { i: { organizationId: org.organizationId, name } },
          org.admin,
        );
      expect((await create('Last team')).errors).toBeUndefined();
      const refused = await create('One too many');
      expect(codeOf(refused)).toBe('BAD_USER_INPUT');
      expect(refused.errors?.[0]?.message).toMatch(/500 teams/);
    });

    it('[R-SEC-3] a page of users under every site is costed as 500 sites and refused before it runs', async () => {
      const result = await gw.gql(
        'query($o: ID!) { organization(id: $o) { sites { id users(first: 40) { totalCount edges { node { id name } } } } } }',
        { o: org.organizationId },
        org.tokens.SUPERVISOR,
      );
      expect(codeOf(result)).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.extensions).toMatchObject({ rule: 'R-SEC-3' });
      expect(result.data ?? undefined).toBeUndefined();
      // What a site list is for still runs.
      const names = await gw.ok<{ organization: { sites: { name: string }[] } }>(
        'query($o: ID!) { organization(id: $o) { sites { id name } } }',
        { o: org.organizationId },
        org.tokens.SUPERVISOR,
      );
      expect(names.organization.sites).toHaveLength(MAX);
    });
  });
}
