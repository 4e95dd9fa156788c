import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { codeOf, createOrg, type OrgFixture, startGateway, type TestGateway } from '../support/gateway.ts';

/*
 * [dashboard-picker] Query.organizations: the operator's paginated list of
 * every organization, filtered by name, that the dashboard's organization
 * picker reads. Organization tokens are refused (R-SEC-5): the field is the
 * operator's alone.
 */

const LIST = `query($first: Int, $after: String, $filter: OrganizationFilter) {
  organizations(first: $first, after: $after, filter: $filter) { edges { cursor node { id name } } pageInfo { hasNextPage endCursor } }
}`;

type Page = {
  organizations: {
    edges: { cursor: string; node: { id: string; name: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
};

for (const kind of DATABASES) {
  describe(`[dashboard-picker] organizations on ${kind}`, () => {
    let gw: TestGateway;
    const orgs: OrgFixture[] = [];
    const names = ['Acme Contact Center', 'acme Sales', 'Globex', '100%_Real Ltd', 'Initech'];

    beforeAll(async () => {
      gw = await startGateway(kind);
      for (const name of names) orgs.push(await createOrg(gw, 'innoacd', name));
    });
    afterAll(async () => {
      await gw?.close();
    });

    it('[dashboard-picker] the operator pages through every organization, oldest first', async () => {
      const seen: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 10; i++) {
        const data: Page = await gw.ok<Page>(LIST, { first: 2, after });
        expect(data.organizations.edges.length).toBeLessThanOrEqual(2);
        seen.push(...data.organizations.edges.map((e) => e.node.id));
        if (!data.organizations.pageInfo.hasNextPage) break;
        after = data.organizations.pageInfo.endCursor;
      }
      expect(seen).toEqual(orgs.map((o) => o.organizationId));
    });

    it('[dashboard-picker] filter.name matches case-insensitively, as plain text', async () => {
      const acme = await gw.ok<Page>(LIST, { filter: { name: 'ACME' } });
      expect(acme.organizations.edges.map((e) => e.node.name)).toEqual(['Acme Contact Center', 'acme Sales']);
      // % and _ are letters here, not wildcards.
      const percent = await gw.ok<Page>(LIST, { filter: { name: '%_' } });
      expect(percent.organizations.edges.map((e) => e.node.name)).toEqual(['100%_Real Ltd']);
      const underscore = await gw.ok<Page>(LIST, { filter: { name: 'a_m' } });
      expect(underscore.organizations.edges).toEqual([]);
      // Paging within a filter.
      const first = await gw.ok<Page>(LIST, { first: 1, filter: { name: 'acme' } });
      expect(first.organizations.pageInfo.hasNextPage).toBe(true);
      const second = await gw.ok<Page>(LIST, { first: 1, after: first.organizations.pageInfo.endCursor, filter: { name: 'acme' } });
      expect(second.organizations.edges.map((e) => e.node.name)).toEqual(['acme Sales']);
      expect(second.organizations.pageInfo.hasNextPage).toBe(false);
    });

    it('[dashboard-picker][R-SEC-5] organization tokens are refused; bad input names the argument', async () => {
      for (const role of ['ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'] as const) {
        const refused = await gw.gql(LIST, {}, orgs[0]!.tokens[role]);
        expect(codeOf(refused)).toBe('FORBIDDEN');
        expect(refused.errors?.[0]?.message).toContain('Query.organizations');
        expect(refused.data?.organizations ?? null).toBeNull();
      }
      expect(codeOf(await gw.gql(LIST, {}, null))).toBe('UNAUTHENTICATED');
      const long = await gw.gql(LIST, { filter: { name: 'x'.repeat(201) } });
      expect(codeOf(long)).toBe('BAD_USER_INPUT');
      expect(long.errors?.[0]?.message).toContain('filter.name');
      expect(codeOf(await gw.gql(LIST, { first: 501 }))).toBe('BAD_USER_INPUT');
      expect(codeOf(await gw.gql(LIST, { after: 'not-a-cursor' }))).toBe('BAD_USER_INPUT');
    });
  });
}
