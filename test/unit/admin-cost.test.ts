import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/schema/index.ts';
import { operationCost } from '../../src/security/cost.ts';

/* [admin-import] [R-SEC-3] importUsers and the two-way connections are priced by what they answer. */

const IMPORT = parse(
  `mutation($input: ImportUsersInput!) { importUsers(input: $input) { applied created refused rows { index field rule message } } }`,
);
const row = { name: 'A', site: 'HQ', role: 'AGENT' };
const cost = (doc: ReturnType<typeof parse>, variables: Record<string, unknown>) => operationCost(getSchema(), doc, null, variables);

describe('[admin-import][R-SEC-3] cost of the admin API', () => {
  it('importUsers costs its selection times its rows plus one per row', () => {
    const one = cost(IMPORT, { input: { organizationId: 'x', users: [row] } });
    const many = cost(IMPORT, { input: { organizationId: 'x', users: Array.from({ length: 5000 }, () => row) } });
    expect(one).toBeGreaterThan(1);
    expect(many - 1).toBe((one - 1) * 5000);
    // The CLI's selection for 5,000 rows stays under the default GRAPHQL_MAX_COST (50,000).
    expect(many).toBeLessThan(50_000);
    expect(many).toBeGreaterThan(40_000);
  });

  it('a connection paged backward costs `last` like `first`', () => {
    const doc = parse(
      `query($last: Int, $first: Int) { organization(id: "x") { siteConnection(first: $first, last: $last) { edges { node { id name } } } } }`,
    );
    expect(cost(doc, { last: 400 })).toBe(cost(doc, { first: 400 }));
    expect(cost(doc, { last: 400 })).toBeGreaterThan(cost(doc, { last: 10 }));
  });
});
