import { openDatabase } from '../../src/db/database.ts';
import type { TestDatabase } from './databases.ts';
import { startGateway, type OrgFixture, type Result, type TestGateway } from './gateway.ts';
import type { TrustedKey } from '../../src/keys/codec.ts';

/*
 * Sessions, seat usage, metering and events through the public API, for the
 * concurrent-seat suites (SPEC §4.4, §4.9, §4.10).
 */

export const SESSION_FIELDS = 'id seatKind startedAt expiresAt endedAt endReason channels user { id }';

export const START_SESSION = `mutation($input: StartSessionInput!) {
  startSession(input: $input) {
    granted
    session { ${SESSION_FIELDS} }
    denial { code message }
    grantedChannels
    deniedChannels { channel code message }
  }
}`;
export const HEARTBEAT = `mutation($input: HeartbeatInput!) { heartbeat(input: $input) { session { ${SESSION_FIELDS} } } }`;
export const END_SESSION = `mutation($input: EndSessionInput!) { endSession(input: $input) { session { ${SESSION_FIELDS} } } }`;

export const SEAT_USAGE = `query($id: ID!) {
  organization(id: $id) {
    seatUsage { organizationId at pools { product { code } capacity inUse emergencyCapacity emergencyInUse overageInUse maxPossible peakToday } }
  }
}`;
export const USAGE = `query($id: ID!, $from: DateTime!, $to: DateTime!) {
  organization(id: $id) {
    usage(from: $from, to: $to) { product { code } peakConcurrent emergencyPeak overageEpisodes { startedAt endedAt peakExcess billable } billableOverage }
  }
}`;
export const EVENTS = `query($id: ID!, $first: Int, $after: String) {
  organization(id: $id) {
    events(first: $first, after: $after) {
      edges { cursor node { id at type user { id } product { code } detail actor apiTokenId } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

export type SeatKind = 'REGULAR' | 'EMERGENCY' | 'OVERAGE' | 'DEMO' | 'NAMED';

export interface SessionView {
  id: string;
  seatKind: SeatKind;
  startedAt: string;
  expiresAt: string;
  endedAt: string | null;
  endReason: string | null;
  channels: string[];
  user: { id: string };
}

export interface StartView {
  granted: boolean;
  session: SessionView | null;
  denial: { code: string; message: string } | null;
  grantedChannels: string[];
  deniedChannels: { channel: string; code: string; message: string }[];
}

export interface PoolView {
  product: { code: string };
  capacity: number;
  inUse: number;
  emergencyCapacity: number;
  emergencyInUse: number;
  overageInUse: number;
  maxPossible: number;
  peakToday: number;
}

export interface UsageView {
  product: { code: string };
  peakConcurrent: number;
  emergencyPeak: number;
  overageEpisodes: { startedAt: string; endedAt: string | null; peakExcess: number; billable: boolean }[];
  billableOverage: number;
}

export interface EventView {
  id: string;
  at: string;
  type: string;
  user: { id: string } | null;
  product: { code: string } | null;
  detail: string | null;
  actor: string;
  apiTokenId: string | null;
}

export interface EventsPage {
  edges: { cursor: string; node: EventView }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** startSession as the organization's AGENT_CLIENT (or `token`); the raw result, so errors can be asserted. */
export function startSessionRaw(
  gw: TestGateway,
  token: string,
  userId: string,
  channels?: string[],
): Promise<Result<{ startSession: StartView }>> {
  return gw.gql(START_SESSION, { input: { userId, ...(channels ? { channels } : {}) } }, token);
}

export async function startSession(gw: TestGateway, org: OrgFixture, userId: string, channels?: string[]): Promise<StartView> {
  return (
    await gw.ok<{ startSession: StartView }>(
      START_SESSION,
      { input: { userId, ...(channels ? { channels } : {}) } },
      org.tokens.AGENT_CLIENT,
    )
  ).startSession;
}

/** Starts a session that must be granted; returns it. */
export async function startGranted(gw: TestGateway, org: OrgFixture, userId: string, channels?: string[]): Promise<SessionView> {
  const result = await startSession(gw, org, userId, channels);
  if (!result.granted || !result.session) throw new Error(`session of ${userId} not granted: ${JSON.stringify(result.denial)}`);
  return result.session;
}

export async function heartbeat(gw: TestGateway, org: OrgFixture, sessionId: string): Promise<SessionView> {
  return (await gw.ok<{ heartbeat: { session: SessionView } }>(HEARTBEAT, { input: { sessionId } }, org.tokens.AGENT_CLIENT)).heartbeat
    .session;
}

export async function endSession(gw: TestGateway, org: OrgFixture, sessionId: string): Promise<SessionView> {
  return (await gw.ok<{ endSession: { session: SessionView } }>(END_SESSION, { input: { sessionId } }, org.tokens.AGENT_CLIENT)).endSession
    .session;
}

export async function seatUsage(
  gw: TestGateway,
  org: OrgFixture,
  token = org.admin,
): Promise<{ organizationId: string; at: string; pools: PoolView[] }> {
  return (await gw.ok(SEAT_USAGE, { id: org.organizationId }, token)).organization.seatUsage;
}

export async function pool(gw: TestGateway, org: OrgFixture, product: string): Promise<Omit<PoolView, 'product'> | undefined> {
  const found = (await seatUsage(gw, org)).pools.find((p) => p.product.code === product);
  if (!found) return undefined;
  const { product: _product, ...rest } = found;
  return rest;
}

export async function usage(gw: TestGateway, org: OrgFixture, from: Date, to: Date): Promise<UsageView[]> {
  return (await gw.ok(USAGE, { id: org.organizationId, from: from.toISOString(), to: to.toISOString() }, org.admin)).organization.usage;
}

export async function usageOf(gw: TestGateway, org: OrgFixture, product: string, from: Date, to: Date): Promise<UsageView | undefined> {
  return (await usage(gw, org, from, to)).find((u) => u.product.code === product);
}

export async function eventsPage(
  gw: TestGateway,
  org: OrgFixture,
  first?: number,
  after?: string | null,
  token = org.admin,
): Promise<EventsPage> {
  return (await gw.ok(EVENTS, { id: org.organizationId, first, after: after ?? null }, token)).organization.events;
}

/** The stored counter of a pool: what seat decisions compare against capacity (R-CONC-4). */
export async function poolCounter(gw: TestGateway, organizationId: string, product: string): Promise<number> {
  const row = await gw.database.db
    .selectFrom('seat_pools')
    .select('in_use')
    .where('organization_id', '=', organizationId)
    .where('product_code', '=', product)
    .executeTakeFirst();
  return row?.in_use ?? 0;
}

/** Open sessions of the organization, from the table. */
export async function openSessions(gw: TestGateway, organizationId: string): Promise<{ id: string; user_id: string; seat_kind: string }[]> {
  return gw.database.db
    .selectFrom('sessions')
    .select(['id', 'user_id', 'seat_kind'])
    .where('organization_id', '=', organizationId)
    .where('ended_at', 'is', null)
    .execute();
}

/** Seats held by open sessions of `product` (the counter must equal this). */
export async function seatsHeld(gw: TestGateway, organizationId: string, product: string): Promise<number> {
  const row = await gw.database.db
    .selectFrom('session_seats')
    .innerJoin('sessions', (j) =>
      j.onRef('sessions.organization_id', '=', 'session_seats.organization_id').onRef('sessions.id', '=', 'session_seats.session_id'),
    )
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('session_seats.organization_id', '=', organizationId)
    .where('session_seats.product_code', '=', product)
    .where('sessions.ended_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The id of the organization's API token of `role` (createOrg makes one of each). */
export async function tokenIdOf(gw: TestGateway, org: OrgFixture, role: keyof OrgFixture['tokens']): Promise<string> {
  const row = await gw.database.db
    .selectFrom('api_tokens')
    .select('id')
    .where('organization_id', '=', org.organizationId)
    .where('role', '=', role)
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Moves the clock by `ms` in steps shorter than the session TTL, renewing
 * `sessionIds` at every step, so they stay open across a long stretch of
 * ManualClock time (the default TTL is 120 s).
 */
export async function advanceKeepingAlive(
  gw: TestGateway,
  org: OrgFixture,
  ms: number,
  sessionIds: readonly string[],
  stepMs = 60_000,
): Promise<void> {
  let left = ms;
  while (left > 0) {
    const step = Math.min(stepMs, left);
    gw.clock.advance(step);
    left -= step;
    for (const id of sessionIds) {
      const renewed = await heartbeat(gw, org, id);
      if (renewed.endedAt) throw new Error(`session ${id} ended while kept alive`);
    }
  }
}

/**
 * A second gateway ("instance") on the same PostgreSQL database with a
 * connection pool of its own. Closing it closes only its pool; the first
 * gateway still owns (and drops) the database.
 */
export async function secondInstance(
  database: TestDatabase,
  options: { now?: Date; trustedKeys?: readonly TrustedKey[] } = {},
): Promise<TestGateway> {
  if (database.kind !== 'postgres' || !database.url) throw new Error('a second instance needs a PostgreSQL test database');
  const handle = await openDatabase({ databaseUrl: database.url, dataDir: null, poolSize: 10 });
  const own: TestDatabase = { ...handle, url: database.url, dispose: () => handle.close() };
  return startGateway('postgres', { ...options, database: own });
}
