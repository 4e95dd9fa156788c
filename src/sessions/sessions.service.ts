import { actorOf, authorize, requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import { DEMO_POOL } from '../assignments/assignments.service.ts';
import type { Catalog, Product } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { Context } from '../context.ts';
import type { Db, Executor } from '../db/database.ts';
import type { LicenseKeyRow, OrganizationRow, SessionRow, SessionSeatRow } from '../db/schema.ts';
import { badInput, notFound } from '../errors.ts';
import { appendEvents, LIVE_CHANNEL, type EventInput } from '../events/events.repository.ts';
import { isId, newId } from '../ids.ts';
import { entitlementsOf, type EntitlementView } from '../licensing/entitlements.ts';
import type { LicenseStatusResult } from '../licensing/lifecycle.ts';
import { kindOfSeat, type SeatKind } from '../licensing/metering.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import { statusFrom } from '../licenses/status.ts';
import { catalogOf } from '../tenancy/access.ts';
import { findOrganization } from '../tenancy/tenancy.repository.ts';
import * as repo from './sessions.repository.ts';

export type DenialCode = 'NO_SEAT_AVAILABLE' | 'NOT_LICENSED' | 'USER_NOT_ACTIVE' | 'LICENSE_INACTIVE' | 'DEMO_LIMIT_REACHED' | 'MISSING_PREREQUISITE';

export interface StartResult {
  granted: boolean;
  session: SessionRow | null;
  denial: { code: DenialCode; message: string } | null;
  grantedChannels: string[];
  deniedChannels: { channel: string; code: DenialCode; message: string }[];
  /** Pools whose counters changed (for live utilization). */
  changedPools: string[];
}

/** The calendar day (UTC) that today's peak belongs to. */
const dayOf = (at: Date) => at.toISOString().slice(0, 10);

/** A seat decision refused: rolls the transaction back (seats already taken in it are returned). */
class Denied extends Error {
  constructor(readonly code: DenialCode, message: string) {
    super(message);
  }
}

interface Licensing {
  org: OrganizationRow;
  catalog: Catalog;
  status: LicenseStatusResult;
  entitlements: EntitlementView[];
}

async function licensingOf(ctx: Context, trx: Executor, organizationId: string): Promise<Licensing> {
  const [org, keys] = await Promise.all([findOrganization(trx, organizationId), keysOfOrganizations(trx, [organizationId])]);
  if (!org) throw new Error(`organization ${organizationId} vanished`);
  return licensingFrom(ctx, org, keys);
}

function licensingFrom(ctx: Context, org: OrganizationRow, keys: readonly LicenseKeyRow[]): Licensing {
  const catalog = catalogOf(ctx, org);
  const status = statusFrom(org, keys, ctx.clock.now());
  return { org, catalog, status, entitlements: entitlementsOf(catalog, status.entitlements) };
}

/**
 * Per organization, what the last probe read: the organization row, its
 * revision, and its stored licence keys. Key rows are only ever inserted and
 * each insert bumps the revision (migration 0005), so an equal revision means
 * the same keys: a probe reads them again only after a change, and a key
 * activated on any instance is seen by the next start. A direct start
 * (`startDirect`) has its statement compare the revision. Bounded; the
 * oldest go first.
 */
const seen = new Map<string, { revision: number; org: OrganizationRow; keys: LicenseKeyRow[] }>();
const SEEN_LIMIT = 5_000;

async function keysOf(db: Executor, probe: repo.StartProbe): Promise<LicenseKeyRow[]> {
  const org = probe.organization;
  const last = seen.get(org.id);
  // Keys read after the probe may be newer than its revision; kept under that revision, they are read again next time.
  const keys = last && last.revision === org.revision ? last.keys : await keysOfOrganizations(db, [org.id]);
  seen.delete(org.id);
  if (seen.size >= SEEN_LIMIT) seen.delete(seen.keys().next().value as string);
  seen.set(org.id, { revision: org.revision, org, keys });
  return keys;
}

const allocationOf = (l: Licensing, p: Product) => l.entitlements.find((e) => e.product === p.code)?.allocation ?? p.allocation;

/** Worst kind first: the session's kind is the most exceptional seat it took. */
const KIND_ORDER: Record<SeatKind | 'DEMO', number> = { REGULAR: 0, EMERGENCY: 1, OVERAGE: 2, DEMO: 3 };

/**
 * Takes a seat of `product`; when the pool is full, first expires this
 * organization's overdue sessions (so a crashed instance's seats come back,
 * R-CONC-3), then tries once more.
 */
async function takeSeat(ctx: Context, trx: Executor, orgId: string, product: string): Promise<repo.PoolCounter | null> {
  const now = ctx.clock.now();
  const counter = await repo.takeSeat(trx, orgId, product, dayOf(now));
  if (counter) return counter;
  if ((await expireDue(trx, now, 50, orgId, { actor: 'system', apiTokenId: null })) === 0) return null;
  return repo.takeSeat(trx, orgId, product, dayOf(now));
}

/** What a start needs, decided from the user's grants before any seat is taken. */
interface SessionPlan {
  /** Concurrent seat products the user is eligible for: one seat of each (R-CONC-1). */
  seatProducts: Product[];
  /** Channels licensed without a pool (held feature, tier feature, or not licensed separately). */
  heldChannels: string[];
  /** Channels that need a unit of a concurrent pool. */
  pooledChannels: { channel: string; product: string }[];
  deniedChannels: StartResult['deniedChannels'];
}

/**
 * R-CHAN-1 and eligibility: a channel is licensed when the user holds its
 * channel feature (named, fixed seat, or included in their tier), or when a
 * unit of its concurrent pool is free (emergency included). A catalog without
 * channel features does not license channels separately (innoACD).
 */
function planSession(licensing: Licensing, grants: ReadonlyMap<string, string>, channels: readonly string[], userName: string): SessionPlan {
  const seatProducts = licensing.catalog.products.filter((p) => p.kind === 'USER' && allocationOf(licensing, p) === 'CONCURRENT');
  const eligible = seatProducts.filter((p) => grants.get(p.code) === 'GRANTED');
  if (eligible.length === 0) {
    const missing = seatProducts.find((p) => grants.get(p.code) === 'MISSING_PREREQUISITE');
    if (missing) throw new Denied('MISSING_PREREQUISITE', `${missing.code} is configured for ${userName} but a prerequisite is missing (see user.explain)`);
    const configured = seatProducts.find((p) => grants.has(p.code));
    throw new Denied('NOT_LICENSED', configured ? `the organization has no ${configured.code} licences` : `no concurrent seat licence (${seatProducts.map((p) => p.code).join(', ') || 'none in this catalog'}) is configured for ${userName}`);
  }
  // Pool rows are locked in one fixed order (seat pools, then channel pools, each by product code) by
  // every start and end, so concurrent sessions never wait on each other in a cycle (deadlock).
  const plan: SessionPlan = { seatProducts: [...eligible].sort((x, y) => byCode(x.code, y.code)), heldChannels: [], pooledChannels: [], deniedChannels: [] };
  const channelProducts = licensing.catalog.products.filter((p) => p.channel !== null);
  for (const channel of channels) {
    if (channelProducts.length === 0) {
      plan.heldChannels.push(channel);
      continue;
    }
    const candidates = channelProducts.filter((p) => p.channel === channel);
    if (candidates.length === 0) {
      plan.deniedChannels.push({ channel, code: 'NOT_LICENSED', message: `${licensing.catalog.code} has no licence for channel ${channel}` });
      continue;
    }
    const held = candidates.find((p) => allocationOf(licensing, p) !== 'CONCURRENT' && grants.get(p.code) === 'GRANTED');
    const pooled = candidates.find((p) => allocationOf(licensing, p) === 'CONCURRENT' && grants.get(p.code) === 'GRANTED');
    const missing = candidates.find((p) => grants.get(p.code) === 'MISSING_PREREQUISITE');
    if (held) plan.heldChannels.push(channel);
    else if (pooled) plan.pooledChannels.push({ channel, product: pooled.code });
    else if (missing) plan.deniedChannels.push({ channel, code: 'MISSING_PREREQUISITE', message: `${missing.code} is configured but a prerequisite is missing` });
    else plan.deniedChannels.push({ channel, code: 'NOT_LICENSED', message: `${candidates.map((p) => p.code).join(' or ')} is not licensed for this user` });
  }
  plan.pooledChannels.sort((x, y) => byCode(x.product, y.product));
  return plan;
}

const byCode = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/** The one order every transaction locks pools in: seat pools, then channel pools, each by product code. */
const lockOrder = (x: SessionSeatRow, y: SessionSeatRow) => Number(x.channel !== null) - Number(y.channel !== null) || byCode(x.product_code, y.product_code);

const channelSuffix = (granted: readonly string[], denied: StartResult['deniedChannels']) =>
  `${granted.length ? `; channels ${granted.join(', ')}` : ''}${denied.length ? `; denied ${denied.map((d) => `${d.channel} (${d.code})`).join(', ')}` : ''}`;

/**
 * R-CONC-1: takes one seat of every concurrent seat product the user is
 * eligible for, plus a unit for each requested channel that needs one
 * (R-CHAN-1), all or nothing. A user has at most one open session: starting
 * again returns it. Refusals are data (`granted: false`, `denial`).
 *
 * The usual start (one pool, no pooled channel) is one statement after
 * lock-free reads; anything else is one transaction. Either way the seat
 * count is a conditional UPDATE under the pool row's lock.
 */
export async function startSession(ctx: Context, input: { userId: string; channels?: readonly string[] | null; deviceId?: string | null }): Promise<StartResult> {
  const channels = [...new Set((input.channels ?? []).map((c) => c.trim().toUpperCase()))];
  channels.forEach((c, i) => {
    if (!/^[A-Z][A-Z0-9_]{0,31}$/.test(c)) throw badInput(`input.channels[${i}]`, 'must be a channel name such as VOICE, EMAIL, WEBCHAT or SMS');
  });
  if (input.deviceId != null && input.deviceId.length > 200) throw badInput('input.deviceId', 'must be at most 200 characters');
  requireAuthenticated(ctx.viewer);
  // Racing a start of the same user (unique index): the probe path below returns the session that won.
  const direct =
    channels.length === 0 && isId(input.userId)
      ? await startDirect(ctx, input.userId, input.deviceId ?? null).catch((error: unknown) => {
          if (isUniqueViolation(error)) return null;
          throw error;
        })
      : null;
  if (direct) return direct;
  const probe = isId(input.userId) ? await repo.probeStart(ctx.db, input.userId, viewerOrganization(ctx.viewer)) : undefined;
  if (!probe) throw notFound('user', input.userId);
  authorize(ctx.viewer, probe.user.organization_id, 'sessions', 'user', input.userId);
  const user = probe.user;
  if (user.status !== 'ACTIVE') return refused('USER_NOT_ACTIVE', `${user.name} is ${user.status}; only ACTIVE users may start sessions`);
  const deviceId = input.deviceId ?? null;

  try {
    const fast = await startFast(ctx, probe, channels, deviceId);
    if (fast) return fast;
    try {
      return await ctx.db.transaction().execute((trx) => startInTransaction(ctx, trx, user, channels, deviceId));
    } catch (error) {
      // A lazy expiry inside a start may lock a pool out of order; PostgreSQL then aborts one side. Once more is enough.
      if (!isDeadlock(error)) throw error;
      return await ctx.db.transaction().execute((trx) => startInTransaction(ctx, trx, user, channels, deviceId));
    }
  } catch (error) {
    if (error instanceof Denied) return refused(error.code, error.message);
    // Another request of the same user won the race to open a session (unique index): return that one.
    if (isUniqueViolation(error)) {
      const open = await repo.openSessionOf(ctx.db, user.organization_id, user.id);
      if (open) return { granted: true, session: open, denial: null, grantedChannels: open.channels, deniedChannels: [], changedPools: [] };
    }
    throw error;
  }
}

const refused = (code: DenialCode, message: string): StartResult => ({ granted: false, session: null, denial: { code, message }, grantedChannels: [], deniedChannels: [], changedPools: [] });
const noSeat = (product: string) => `all ${product} seats are in use (capacity and emergency seats)`;

const sqlState = (error: unknown): unknown => (typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined);
const isUniqueViolation = (error: unknown) => sqlState(error) === '23505';
const isDeadlock = (error: unknown) => sqlState(error) === '40P01';

/**
 * The usual start of an agent client in ONE round trip: a token of the
 * organization, no channels, and the organization's licensing known from an
 * earlier probe. The statement itself checks everything the probe would have
 * read (user ACTIVE, no open session, exactly one granted seat product, the
 * organization unchanged since: its revision and high-water time) and takes the seat; a full
 * pool with no overdue session to expire is NO_SEAT_AVAILABLE at once. Null
 * whenever anything differs, or overdue sessions could free a seat: then the
 * probe path decides, with the exact answer (open session, denial, expiry of
 * overdue sessions, error).
 */
async function startDirect(ctx: Context, userId: string, deviceId: string | null): Promise<StartResult | null> {
  const viewer = ctx.viewer;
  if (viewer.kind !== 'token') return null;
  const orgId = viewer.organizationId;
  const last = seen.get(orgId);
  if (!last) return null;
  try {
    authorize(viewer, orgId, 'sessions', 'user', userId);
  } catch {
    return null; // the probe path gives the error, in its order (NOT_FOUND before FORBIDDEN)
  }
  const licensing = licensingFrom(ctx, last.org, last.keys);
  if (!licensing.status.fullUse) return null;
  const seatProducts = licensing.catalog.products.filter((p) => p.kind === 'USER' && allocationOf(licensing, p) === 'CONCURRENT').map((p) => p.code);
  if (seatProducts.length === 0) return null;
  const now = ctx.clock.now();
  const actor = actorOf(viewer);
  const session = newSessionRow(ctx, orgId, userId, now, [], deviceId);
  const { product, taken, overdue } = await repo.startWithOneSeat(ctx.db, {
    organizationId: orgId,
    pool: { direct: { userId, revision: last.revision, highWater: last.org.clock_high_water, seatProducts } },
    today: dayOf(now),
    session: { id: session.id, userId, startedAt: now, expiresAt: session.expires_at, expiresCapMs: expiresCapMs(ctx), deviceId, apiTokenId: actor.apiTokenId, channels: [] },
    event: { id: newId(now), actor: actor.actor, detailSuffix: '' },
    notifyChannel: LIVE_CHANNEL,
  });
  if (product && !taken && !overdue) return refused('NO_SEAT_AVAILABLE', noSeat(product));
  if (!product || !taken) return null;
  return { granted: true, session: { ...session, seat_kind: taken.seat_kind }, denial: null, grantedChannels: [], deniedChannels: [], changedPools: [product] };
}

/** R-LIFE-6: on the clock of record, SQL caps a session's expiry at the database's now() + TTL + the skew bound. */
const expiresCapMs = (ctx: Context) => (ctx.clock.databaseBoundMs === undefined ? undefined : ctx.sessionTtlSeconds * 1000 + ctx.clock.databaseBoundMs);

function newSessionRow(ctx: Context, orgId: string, userId: string, now: Date, channels: string[], deviceId: string | null): SessionRow {
  return {
    organization_id: orgId,
    id: newId(now),
    user_id: userId,
    seat_kind: 'REGULAR',
    started_at: now,
    expires_at: new Date(now.getTime() + ctx.sessionTtlSeconds * 1000),
    ended_at: null,
    end_reason: null,
    channels,
    device_id: deviceId,
    api_token_id: actorOf(ctx.viewer).apiTokenId,
  };
}

/** The one-statement start; null when the case needs the transactional path. */
async function startFast(ctx: Context, probe: repo.StartProbe, channels: readonly string[], deviceId: string | null): Promise<StartResult | null> {
  const { user, open } = probe;
  const orgId = user.organization_id;
  const now = ctx.clock.now();
  if (open && open.expires_at > now) return { granted: true, session: open, denial: null, grantedChannels: open.channels, deniedChannels: [], changedPools: [] };
  if (open) return null;
  const licensing = licensingFrom(ctx, probe.organization, await keysOf(ctx.db, probe));
  if (!licensing.status.fullUse) return null;
  const plan = planSession(licensing, new Map(probe.grants.map((g) => [g.product_code, g.status])), channels, user.name);
  const [product] = plan.seatProducts;
  if (!product || plan.seatProducts.length > 1 || plan.pooledChannels.length > 0) return null;

  const actor = actorOf(ctx.viewer);
  const session = newSessionRow(ctx, orgId, user.id, now, plan.heldChannels, deviceId);
  const attempt = async () =>
    (
      await repo.startWithOneSeat(ctx.db, {
        organizationId: orgId,
        pool: { product: product.code },
        today: dayOf(now),
        session: { id: session.id, userId: user.id, startedAt: now, expiresAt: session.expires_at, expiresCapMs: expiresCapMs(ctx), deviceId, apiTokenId: actor.apiTokenId, channels: plan.heldChannels },
        event: { id: newId(now), actor: actor.actor, detailSuffix: channelSuffix(plan.heldChannels, plan.deniedChannels) },
        notifyChannel: LIVE_CHANNEL,
      })
    ).taken;
  let taken = await attempt();
  if (!taken) {
    // Full: give back the seats of sessions nobody renewed (a crashed instance's), then try once more (R-CONC-3).
    const expired = await ctx.db.transaction().execute((trx) => expireDue(trx, now, 50, orgId, { actor: 'system', apiTokenId: null }));
    if (expired > 0) taken = await attempt();
  }
  if (!taken) throw new Denied('NO_SEAT_AVAILABLE', noSeat(product.code));
  return {
    granted: true,
    session: { ...session, seat_kind: taken.seat_kind },
    denial: null,
    grantedChannels: plan.heldChannels,
    deniedChannels: plan.deniedChannels,
    changedPools: [product.code],
  };
}

async function startInTransaction(
  ctx: Context,
  trx: Executor,
  user: { id: string; name: string; organization_id: string },
  channels: string[],
  deviceId: string | null,
): Promise<StartResult> {
  const now = ctx.clock.now();
  const orgId = user.organization_id;
  const open = await repo.openSessionOf(trx, orgId, user.id);
  if (open && open.expires_at > now) {
    return { granted: true, session: open, denial: null, grantedChannels: open.channels, deniedChannels: [], changedPools: [] };
  }
  if (open) await endSessionRow(trx, open, now, 'EXPIRED', { actor: 'system', apiTokenId: null });

  const licensing = await licensingOf(ctx, trx, orgId);
  const seats: { product: string; kind: SeatKind | 'DEMO'; channel: string | null; counter: repo.PoolCounter }[] = [];
  const grantedChannels: string[] = [];
  const deniedChannels: StartResult['deniedChannels'] = [];

  if (!licensing.status.fullUse) {
    // R-LIFE-5 / R-DEMO-1: whatever the catalog, at most demoAgentLimit sessions at once.
    const counter = await takeSeat(ctx, trx, orgId, DEMO_POOL);
    if (!counter) {
      throw new Denied('DEMO_LIMIT_REACHED', `the licence is ${licensing.status.state}: demo mode allows ${licensing.status.demoAgentLimit} session(s) at once and they are taken`);
    }
    seats.push({ product: DEMO_POOL, kind: 'DEMO', channel: null, counter });
    for (const channel of channels) deniedChannels.push({ channel, code: 'LICENSE_INACTIVE', message: `the licence is ${licensing.status.state}: channel licences are not granted in demo mode` });
  } else {
    const grants = new Map((await repo.grantsOfUser(trx, orgId, user.id)).map((g) => [g.product_code, g.status]));
    const plan = planSession(licensing, grants, channels, user.name);
    for (const product of plan.seatProducts) {
      const counter = await takeSeat(ctx, trx, orgId, product.code);
      if (!counter) throw new Denied('NO_SEAT_AVAILABLE', noSeat(product.code));
      seats.push({ product: product.code, kind: kindOfSeat(counter.in_use, counter.capacity, counter.emergency_capacity), channel: null, counter });
    }
    grantedChannels.push(...plan.heldChannels);
    deniedChannels.push(...plan.deniedChannels);
    for (const { channel, product } of plan.pooledChannels) {
      const counter = await takeSeat(ctx, trx, orgId, product);
      if (counter) {
        seats.push({ product, kind: kindOfSeat(counter.in_use, counter.capacity, counter.emergency_capacity), channel, counter });
        grantedChannels.push(channel);
      } else {
        deniedChannels.push({ channel, code: 'NO_SEAT_AVAILABLE', message: `all ${product} units are in use` });
      }
    }
  }

  const kind = seats.reduce<SeatKind | 'DEMO'>((worst, s) => (KIND_ORDER[s.kind] > KIND_ORDER[worst] ? s.kind : worst), 'REGULAR');
  const session: SessionRow = { ...newSessionRow(ctx, orgId, user.id, now, grantedChannels, deviceId), seat_kind: kind };
  const seatRows: SessionSeatRow[] = seats.map((s) => ({ organization_id: orgId, session_id: session.id, product_code: s.product, seat_kind: s.kind, channel: s.channel }));
  await repo.insertSession(trx, session, seatRows, expiresCapMs(ctx));
  await repo.recordUsage(trx, orgId, now, seats.map((s) => ({ product: s.product, counter: s.counter })));
  await appendEvents(trx, [
    {
      organizationId: orgId,
      type: 'SESSION_STARTED',
      at: now,
      userId: user.id,
      productCode: seats[0]?.product === DEMO_POOL ? null : (seats[0]?.product ?? null),
      detail: `${seats.map((s) => (s.product === DEMO_POOL ? 'demo seat' : `${s.product} ${s.kind}`)).join(', ')}${channelSuffix(grantedChannels, deniedChannels)}`,
      ...actorOf(ctx.viewer),
    },
  ]);
  return { granted: true, session, denial: null, grantedChannels, deniedChannels, changedPools: seats.map((s) => s.product) };
}

/** Ends an open session and frees its seats; null when it had ended already. */
async function endSessionRow(trx: Executor, session: SessionRow, at: Date, reason: 'ENDED' | 'EXPIRED', actor: Pick<EventInput, 'actor' | 'apiTokenId'>): Promise<SessionRow | null> {
  return (await endSessionRows(trx, [session], at, reason, actor))[0] ?? null;
}

/**
 * Ends open sessions of one organization and frees their seats: each pool is
 * decremented once, in the one global lock order (product code), so that
 * concurrent starts, ends and expiries never wait on each other in a cycle.
 */
async function endSessionRows(trx: Executor, sessions: readonly SessionRow[], at: Date, reason: 'ENDED' | 'EXPIRED', actor: Pick<EventInput, 'actor' | 'apiTokenId'>): Promise<SessionRow[]> {
  const closed: SessionRow[] = [];
  const freed = new Map<string, { organizationId: string; seat: SessionSeatRow; count: number }>();
  for (const session of sessions) {
    const row = await repo.closeSession(trx, session.organization_id, session.id, at, reason);
    if (!row) continue;
    closed.push(row);
    for (const seat of await repo.seatsOfSession(trx, session.organization_id, session.id)) {
      const key = `${seat.organization_id}|${seat.product_code}`;
      const entry = freed.get(key) ?? { organizationId: seat.organization_id, seat, count: 0 };
      entry.count += 1;
      freed.set(key, entry);
    }
  }
  const byOrganization = new Map<string, { product: string; counter: repo.PoolCounter }[]>();
  for (const entry of [...freed.values()].sort((a, b) => byCode(a.organizationId, b.organizationId) || lockOrder(a.seat, b.seat))) {
    const product = entry.seat.product_code;
    const counter = await repo.releaseSeat(trx, entry.organizationId, product, dayOf(at), entry.count);
    if (counter) byOrganization.set(entry.organizationId, [...(byOrganization.get(entry.organizationId) ?? []), { product, counter }]);
  }
  for (const [organizationId, changes] of byOrganization) await repo.recordUsage(trx, organizationId, at, changes);
  await appendEvents(
    trx,
    closed.map((session) => ({
      organizationId: session.organization_id,
      type: reason === 'EXPIRED' ? 'SESSION_EXPIRED' : 'SESSION_ENDED',
      at,
      userId: session.user_id,
      detail: `session ${session.id}${reason === 'EXPIRED' ? ` not renewed since ${session.expires_at.toISOString()}` : ''}`,
      ...actor,
    })),
  );
  return closed;
}

/**
 * Expires overdue open sessions (R-CONC-3): safe on every instance at once
 * (SKIP LOCKED), and also used lazily by a seat decision that finds its pool
 * full. Returns how many expired.
 */
export async function expireDue(trx: Executor, now: Date, limit: number, organizationId: string | null, actor: Pick<EventInput, 'actor' | 'apiTokenId'>): Promise<number> {
  const due = await repo.lockExpired(trx, now, limit, organizationId);
  const sessions: SessionRow[] = [];
  for (const { organization_id, id } of due) {
    const session = await repo.findSession(trx, id, organization_id);
    if (session) sessions.push(session);
  }
  return (await endSessionRows(trx, sessions, now, 'EXPIRED', actor)).length;
}

/** The background sweep: expires overdue sessions in batches, each batch one transaction. */
export async function sweepExpiredSessions(db: Db, clock: Clock, batch = 200): Promise<number> {
  let total = 0;
  for (;;) {
    const expired = await db.transaction().execute((trx) => expireDue(trx, clock.now(), batch, null, { actor: 'system', apiTokenId: null }));
    total += expired;
    if (expired < batch) return total;
  }
}

async function loadSession(ctx: Context, trx: Executor, sessionId: string): Promise<SessionRow> {
  requireAuthenticated(ctx.viewer);
  const session = isId(sessionId) ? await repo.findSession(trx, sessionId, viewerOrganization(ctx.viewer)) : undefined;
  if (!session) throw notFound('session', sessionId);
  authorize(ctx.viewer, session.organization_id, 'sessions', 'session', sessionId);
  return session;
}

/**
 * R-CONC-3: renews an open session for another SESSION_TTL_SECONDS. A session
 * already past its expiry is expired now (its seats freed) and returned
 * ended: the client must start a new one.
 */
export async function heartbeat(ctx: Context, input: { sessionId: string }): Promise<SessionRow> {
  return ctx.db.transaction().execute(async (trx) => {
    const session = await loadSession(ctx, trx, input.sessionId);
    const now = ctx.clock.now();
    if (session.ended_at) return session;
    const renewed = await repo.renewSession(trx, session.organization_id, session.id, now, new Date(now.getTime() + ctx.sessionTtlSeconds * 1000), expiresCapMs(ctx));
    if (renewed) return renewed;
    return (await endSessionRow(trx, session, now, 'EXPIRED', { actor: 'system', apiTokenId: null })) ?? (await repo.findSession(trx, session.id, session.organization_id)) ?? session;
  });
}

/** Ends a session and frees its seats; ending an ended session returns it unchanged. */
export async function endSession(ctx: Context, input: { sessionId: string }): Promise<{ session: SessionRow; changed: boolean }> {
  return ctx.db.transaction().execute(async (trx) => {
    const session = await loadSession(ctx, trx, input.sessionId);
    if (session.ended_at) return { session, changed: false };
    const ended = await endSessionRow(trx, session, ctx.clock.now(), 'ENDED', actorOf(ctx.viewer));
    return ended ? { session: ended, changed: true } : { session: (await repo.findSession(trx, session.id, session.organization_id)) ?? session, changed: false };
  });
}
