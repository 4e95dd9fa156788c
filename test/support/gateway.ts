import type { ExecutionResult } from 'graphql';
import { createApp, type App } from '../../src/app.ts';
import { ManualClock } from '../../src/clock.ts';
import type { DatabaseKind } from '../../src/db/database.ts';
import type { TrustedKey } from '../../src/keys/codec.ts';
import type { TokenCacheOptions } from '../../src/tokens/token-cache.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { freshDatabase, type TestDatabase } from './databases.ts';

export const OPERATOR_TOKEN = 'test-operator-token-0123456789';

export type Result<T = Record<string, any>> = ExecutionResult<T> & { status: number };

export interface TestGateway {
  kind: DatabaseKind;
  app: App;
  database: TestDatabase;
  clock: ManualClock;
  /** Runs one operation through yoga.fetch (the real HTTP handler, no socket). */
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<Result<T>>;
  /** Like gql, but fails the test on any GraphQL error and returns data. */
  ok<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<T>;
  close(): Promise<void>;
}

export async function startGateway(
  kind: DatabaseKind,
  options: {
    now?: Date;
    database?: TestDatabase;
    trustedKeys?: readonly TrustedKey[];
    tokenCache?: TokenCacheOptions;
    logger?: Logger;
    /** DENIAL_EVENT_INTERVAL_SECONDS of the app (default 10). */
    denialEventIntervalSeconds?: number;
  } = {},
): Promise<TestGateway> {
  const database = options.database ?? (await freshDatabase(kind));
  const clock = new ManualClock(options.now ?? new Date('2026-11-22T10:00:00.000Z'));
  // Background sweeps are off: tests drive time with the ManualClock and call sweeps themselves.
  const app = createApp({
    database,
    clock,
    operatorToken: OPERATOR_TOKEN,
    trustedKeys: options.trustedKeys ?? [],
    sweepIntervalMs: 0,
    ...(options.tokenCache ? { tokenCache: options.tokenCache } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.denialEventIntervalSeconds !== undefined ? { denialEventIntervalSeconds: options.denialEventIntervalSeconds } : {}),
  });

  const gql: TestGateway['gql'] = async (query, variables, token = OPERATOR_TOKEN) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await app.yoga.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as ExecutionResult;
    return { ...body, status: response.status } as never;
  };

  return {
    kind,
    app,
    database,
    clock,
    gql,
    ok: async (query, variables, token) => {
      const result = await gql(query, variables, token);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data as never;
    },
    close: async () => {
      await app.stop();
      await database.dispose();
    },
  };
}

/** The first error's code, for assertions. */
export function codeOf(result: Result): string | undefined {
  return result.errors?.[0]?.extensions?.code as string | undefined;
}

export interface OrgFixture {
  organizationId: string;
  /** Unique per organization (the gateway refuses a reference another organization holds); keys for it must carry it. */
  customerRef: string | null;
  siteId: string;
  admin: string;
  tokens: Record<'ADMIN' | 'SUPERVISOR' | 'INTEGRATOR' | 'AGENT_CLIENT', string>;
}

let customerRefs = 0;
/** A customer reference no other organization of this test process holds. */
export function uniqueCustomerRef(): string {
  return `CUST-${process.pid}-${++customerRefs}`;
}

/** An organization of `catalog` with one site and a token of every role; its customer reference is unique unless one is given. */
export async function createOrg(
  gw: TestGateway,
  catalog: string,
  name = `Org ${catalog}`,
  customerRef: string | null = uniqueCustomerRef(),
): Promise<OrgFixture> {
  const org = await gw.ok<{ createOrganization: { organization: { id: string } } }>(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
    { input: { name, catalog, customerRef } },
  );
  const organizationId = org.createOrganization.organization.id;
  const site = await gw.ok<{ createSite: { site: { id: string } } }>(
    `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
    { input: { organizationId, name: 'Headquarters' } },
  );
  const tokens = {} as OrgFixture['tokens'];
  for (const role of ['ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'] as const) {
    const created = await gw.ok<{ createApiToken: { token: string } }>(
      `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`,
      { input: { organizationId, role, label: role.toLowerCase() } },
    );
    tokens[role] = created.createApiToken.token;
  }
  return { organizationId, customerRef, siteId: site.createSite.site.id, admin: tokens.ADMIN, tokens };
}

export async function createUser(
  gw: TestGateway,
  token: string,
  input: { siteId: string; name: string; role?: string; status?: string; configurationGroupId?: string; teamId?: string; email?: string },
): Promise<string> {
  const data = await gw.ok<{ createUser: { user: { id: string } } }>(
    `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`,
    { input: { role: 'AGENT', ...input } },
    token,
  );
  return data.createUser.user.id;
}
