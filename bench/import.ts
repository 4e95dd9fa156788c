/*
 * Bulk import (importUsers): N users of one organization through the
 * GraphQL API in one request and one transaction (validation, inserts, group
 * functions, base licence slots, allocation, events), against the baseline
 * of the same rows written by plain set-based SQL INSERTs (users, status
 * history, assignments, base licence slots: what insertUsers of load.ts
 * writes), measured in the same run on the same PostgreSQL.
 */
import type { GqlClient } from './clients.ts';
import { activate, createOrgFixture, insertUsers, issueBenchKey, type Sql } from './load.ts';
import type { Report } from './report.ts';

const IMPORT = `mutation($input: ImportUsersInput!) { importUsers(input: $input) { applied created refused rows { index field rule message } } }`;

const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;

export async function scenarioImport(env: { client: GqlClient; sql: Sql }, report: Report, options: { users: number }): Promise<void> {
  const { client, sql } = env;
  const n = options.users;
  console.log(`\n== bulk import: ${n} users through importUsers vs the same rows by plain SQL INSERT`);
  const org = await createOrgFixture(client, `import ${n}`);
  await activate(client, org, issueBenchKey(n, 10, 0, org.customerRef));
  const users = Array.from({ length: n }, (_, i) => ({
    name: `Imported ${i}`,
    email: `imported${i}@bench.example`,
    site: 'HQ',
    configurationGroup: 'Agents',
    role: 'AGENT',
    status: 'ACTIVE',
  }));
  const body = JSON.stringify({ query: IMPORT, variables: { input: { organizationId: org.organizationId, users } } }).length;
  const t0 = process.hrtime.bigint();
  const data = await client.ok<{ importUsers: { applied: boolean; created: number; refused: number } }>(
    IMPORT,
    { input: { organizationId: org.organizationId, users } },
    org.tokens.ADMIN,
  );
  const apiMs = ms(t0);
  if (!data.importUsers.applied || data.importUsers.created !== n)
    report.fail(`importUsers of ${n} users did not create them all: ${JSON.stringify(data.importUsers)}`);

  const base = await createOrgFixture(client, `import baseline ${n}`);
  await activate(client, base, issueBenchKey(n, 10, 0, base.customerRef));
  const t1 = process.hrtime.bigint();
  // Four set-based statements (the bench's pool has no session for one transaction; each commits on its own).
  await insertUsers(sql, base, n);
  const sqlMs = ms(t1);

  const label = `PostgreSQL, 1 org, ${n} users in one request (${Math.round(body / 1024)} KiB body)`;
  report.add({
    scenario: 'bulk import',
    case: label,
    metric: 'users/s',
    value: Math.round((n / apiMs) * 1000),
    unit: 'users/s',
    baseline: { label: 'plain SQL INSERT of the same rows', value: Math.round((n / sqlMs) * 1000) },
    note: `importUsers ${Math.round(apiMs)} ms, SQL ${Math.round(sqlMs)} ms`,
  });
  report.add({ scenario: 'bulk import', case: label, metric: 'import duration', value: Math.round(apiMs), unit: 'ms' });
}
