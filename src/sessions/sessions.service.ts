import { actorOf, authorize, requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import { DEMO_POOL } from '../licensing/seats.ts';
import type { Catalog, Product } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { Context } from '../context.ts';
import type { Db, Executor } from '../db/database.ts';
import { retrying, sqlState, withTransaction } from '../db/transaction.ts';
import type { LicenseKeyRow, OrganizationRow, SessionRow, SessionSeatRow } from '../db/schema.ts';
import { badInput, notFound } from '../errors.ts';
import { appendEvents, LIVE_CHANNEL, type EventInput } from '../events/events.repository.ts';
import { isId, newId } from '../ids.ts';
import { entitlementsOf, type EntitlementView } from '../licensing/entitlements.ts';
import type { LicenseStatusResult } from '../licensing/lifecycle.ts';
import { kindOfSeat, type SeatKind } from '../licensing/metering.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import { statusFrom } from '../allocation/keys.ts';
import { catalogOf } from '../tenancy/access.ts';
import { findOrganization, findUser } from '../tenancy/tenancy.repository.ts';
import * as repo from './sessions.repository.ts';

/*
 * LOCK ORDER. Every write that touches an organization's row, its users, its
 * seat pools or its sessions takes its row locks in this one order, so no two
 * transactions ever wait on each other in a cycle (PostgreSQL would abort one
 * with "deadlock detected"):
 *
 *   1. the organization row, FOR NO KEY UPDATE (`lockOrganization`), by writes
 *      that change organization-wide state (configuration, users, keys). Never
 *      FOR UPDATE: the foreign-key checks of session, event and usage inserts
 *      take FOR KEY SHARE on that row after a start has taken its pool, and
 *      only FOR UPDATE (or deleting the organization) conflicts with it.
 *   2. user rows: a status change or deletion updates them; a start takes its
 *      user FOR SHARE, so a status change waits for an in-flight start and then
 *      ends the session it opened (and a start after it sees the new status).
 *      Grants and assignments are written only under the organization's lock.
 *   3. seat pools, by product code in byte order (`byCode`, SQL `collate "C"`;
 *      the demo pool `*DEMO` sorts first): a start takes its seat and channel
 *      units in that order; a configuration change upserts all pools in it;
 *      ending sessions locks the pools of their seats (`lockPools`) first.
 *   4. sessions and their seats: changed only after the pools their seats are
 *      in are locked (ending, expiry); a heartbeat's renewal locks its session
 *      alone and waits for nothing after it.
 *
 * A start that would need to expire overdue sessions (its own, or others' in
 * a full pool) rolls back and expires them in a transaction of their own
 * before it tries again, rather than lock their pools out of order. Every
 * transaction runs in `withTransaction` (src/db/transaction.ts), which runs
 * it again on a deadlock or serialization failure should one still happen
 * (a lock this order cannot see, such as one taken in psql).
 */

export type DenialCode =
  | 'NO_SEAT_AVAILABLE'
  | 'NOT_LICENSED'
  | 'USER_NOT_ACTIVE'
  | 'LICENSE_INACTIVE'
  | 'DEMO_LIMIT_REACHED'
  | 'MISSING_PREREQUISITE';

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
  constructor(
    readonly code: DenialCode,
    message: string,
  ) {
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
  const status = statusFrom(org, keys, ctx.clock.now(), ctx.caches.parsedKeys);
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
 * Lazily freeing seats (R-CONC-3) would lock the pools of overdue sessions in
 * the middle of a start, out of the lock order; instead the start rolls back
 * with this, the overdue sessions are expired in a transaction of their own,
 * and the start runs again.
 */
class ExpireFirst extends Error {
  constructor(readonly organizationId: string) {
    super('overdue sessions to expire first');
  }
}

/**
 * Takes a seat of `product`. When the pool is full and this organization has
 * overdue sessions (a crashed instance's, R-CONC-3), rolls the start back to
 * expire them first (`ExpireFirst`), once.
 */
async function takeSeat(ctx: Context, trx: Executor, orgId: string, product: string, mayExpire: boolean): Promise<repo.PoolCounter | null> {
  const now = ctx.clock.now();
  const counter = await repo.takeSeat(trx, orgId, product, dayOf(now));
  if (counter) return counter;
  if (mayExpire && (await repo.hasOverdue(trx, orgId, now))) throw new ExpireFirst(orgId);
  return null;
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
function planSession(
  licensing: Licensing,
  grants: ReadonlyMap<string, string>,
  channels: readonly string[],
  userName: string,
): SessionPlan {
  const seatProducts = licensing.catalog.products.filter((p) => p.kind === 'USER' && allocationOf(licensing, p) === 'CONCURRENT');
  const eligible = seatProducts.filter((p) => grants.get(p.code) === 'GRANTED');
  if (eligible.length === 0) {
    const missing = seatProducts.find((p) => grants.get(p.code) === 'MISSING_PREREQUISITE');
    if (missing)
      throw new Denied(
        'MISSING_PREREQUISITE',
        `${missing.code} is configured for ${userName} but a prerequisite is missing (see user.explain)`,
      );
    const configured = seatProducts.find((p) => grants.has(p.code));
    throw new Denied(
      'NOT_LICENSED',
      configured
        ? `the organization has no ${configured.code} licences`
        : `no concurrent seat licence (${seatProducts.map((p) => p.code).join(', ') || 'none in this catalog'}) is configured for ${userName}`,
    );
  }
  // Sorted by product code: the pool lock order (see LOCK ORDER above).
  const plan: SessionPlan = {
    seatProducts: [...eligible].sort((x, y) => byCode(x.code, y.code)),
    heldChannels: [],
    pooledChannels: [],
    deniedChannels: [],
  };
  const channelProducts = licensing.catalog.products.filter((p) => p.channel !== null);
  for (const channel of channels) {
    if (channelProducts.length === 0) {
      plan.heldChannels.push(channel);
      continue;
    }
    const candidates = channelProducts.filter((p) => p.channel === channel);
    if (candidates.length === 0) {
      plan.deniedChannels.push({
        channel,
        code: 'NOT_LICENSED',
        message: `${licensing.catalog.code} has no licence for channel ${channel}`,
      });
      continue;
    }
    const held = candidates.find((p) => allocationOf(licensing, p) !== 'CONCURRENT' && grants.get(p.code) === 'GRANTED');
    const pooled = candidates.find((p) => allocationOf(licensing, p) === 'CONCURRENT' && grants.get(p.code) === 'GRANTED');
    const missing = candidates.find((p) => grants.get(p.code) === 'MISSING_PREREQUISITE');
    if (held) plan.heldChannels.push(channel);
    else if (pooled) plan.pooledChannels.push({ channel, product: pooled.code });
    else if (missing)
      plan.deniedChannels.push({
        channel,
        code: 'MISSING_PREREQUISITE',
        message: `${missing.code} is configured but a prerequisite is missing`,
      });
    else
      plan.deniedChannels.push({
        channel,
        code: 'NOT_LICENSED',
        message: `${candidates.map((p) => p.code).join(' or ')} is not licensed for this user`,
      });
  }
  plan.pooledChannels.sort((x, y) => byCode(x.product, y.product));
  return plan;
}

const byCode = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

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
 * count is a conditional UPDATE under the pool row's lock, after the user's
 * row is share-locked (see LOCK ORDER above).
 */
export async function startSession(
  ctx: Context,
  input: { userId: string; channels?: readonly string[] | null; deviceId?: string | null },
  attempt = 1,
): Promise<StartResult> {
  const channels = [...new Set((input.channels ?? []).map((c) => c.trim().toUpperCase()))];
  channels.forEach((c, i) => {
    if (!/^[A-Z][A-Z0-9_]{0,31}$/.test(c))
      throw badInput(`input.channels[${i}]`, 'must be a channel name such as VOICE, EMAIL, WEBCHAT or SMS');
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
  if (user.status !== 'ACTIVE') return refused('USER_NOT_ACTIVE', notActive(user.name, user.status));
  const deviceId = input.deviceId ?? null;

  try {
    const fast = await startFast(ctx, probe, channels, deviceId);
    if (fast) return fast;
    return await startTransactional(ctx, user, channels, deviceId);
  } catch (error) {
    if (error instanceof Denied) return refused(error.code, error.message);
    // Another request of the same user won the race to open a session (unique index): return that one.
    if (isUniqueViolation(error)) {
      const open = await repo.openSessionOf(ctx.db, user.organization_id, user.id);
      if (open) return { granted: true, session: open, denial: null, grantedChannels: open.channels, deniedChannels: [], changedPools: [] };
      // The session that won ended before it could be read (another client of the same user): start again, once.
      if (attempt === 1) return startSession(ctx, input, attempt + 1);
    }
    throw error;
  }
}

const refused = (code: DenialCode, message: string): StartResult => ({
  granted: false,
  session: null,
  denial: { code, message },
  grantedChannels: [],
  deniedChannels: [],
  changedPools: [],
});
const noSeat = (product: string) => `all ${product} seats are in use (capacity and emergency seats)`;
const notActive = (name: string, status: string) => `${name} is ${status}; only ACTIVE users may start sessions`;

const isUniqueViolation = (error: unknown) => sqlState(error) === '23505';

const SYSTEM = { actor: 'system', apiTokenId: null } as const;

/**
 * The transactional start: one transaction (retried on a deadlock), run again
 * after expiring overdue sessions when it found some in its way (at most
 * twice; the last run ends them itself).
 */
async function startTransactional(
  ctx: Context,
  user: { id: string; name: string; organization_id: string },
  channels: string[],
  deviceId: string | null,
): Promise<StartResult> {
  for (let round = 0; ; round++) {
    const mayExpire = round < 2;
    try {
      return await withTransaction(ctx.db, (trx) => startInTransaction(ctx, trx, user, channels, deviceId, mayExpire), {
        label: 'startSession',
      });
    } catch (error) {
      if (!(error instanceof ExpireFirst) || !mayExpire) throw error;
      await withTransaction(ctx.db, (trx) => expireDue(trx, ctx.clock.now(), 50, error.organizationId, SYSTEM), {
        label: 'expireSessions',
      });
    }
  }
}

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
  const seatProducts = licensing.catalog.products
    .filter((p) => p.kind === 'USER' && allocationOf(licensing, p) === 'CONCURRENT')
    .map((p) => p.code);
  if (seatProducts.length === 0) return null;
  const now = ctx.clock.now();
  const actor = actorOf(viewer);
  const session = newSessionRow(ctx, orgId, userId, now, [], deviceId);
  const { product, taken, overdue } = await retrying(
    ctx.db,
    () =>
      repo.startWithOneSeat(ctx.db, {
        organizationId: orgId,
        pool: { direct: { userId, revision: last.revision, highWater: last.org.clock_high_water, seatProducts } },
        today: dayOf(now),
        session: {
          id: session.id,
          userId,
          startedAt: now,
          expiresAt: session.expires_at,
          expiresCapMs: expiresCapMs(ctx),
          deviceId,
          apiTokenId: actor.apiTokenId,
          channels: [],
        },
        event: { id: newId(now), actor: actor.actor, detailSuffix: '' },
        notifyChannel: LIVE_CHANNEL,
      }),
    { label: 'startSession' },
  );
  if (product && !taken && !overdue) return refused('NO_SEAT_AVAILABLE', noSeat(product));
  if (!product || !taken) return null;
  return {
    granted: true,
    session: { ...session, seat_kind: taken.seat_kind },
    denial: null,
    grantedChannels: [],
    deniedChannels: [],
    changedPools: [product],
  };
}

/** R-LIFE-6: on the clock of record, SQL caps a session's expiry at the database's now() + TTL + the skew bound. */
const expiresCapMs = (ctx: Context) =>
  ctx.clock.databaseBoundMs === undefined ? undefined : ctx.sessionTtlSeconds * 1000 + ctx.clock.databaseBoundMs;

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
async function startFast(
  ctx: Context,
  probe: repo.StartProbe,
  channels: readonly string[],
  deviceId: string | null,
): Promise<StartResult | null> {
  const { user, open } = probe;
  const orgId = user.organization_id;
  const now = ctx.clock.now();
  if (open && open.expires_at > now)
    return { granted: true, session: open, denial: null, grantedChannels: open.channels, deniedChannels: [], changedPools: [] };
  if (open) return null;
  const licensing = licensingFrom(ctx, probe.organization, await keysOf(ctx.db, probe));
  if (!licensing.status.fullUse) return null;
  const plan = planSession(licensing, new Map(probe.grants.map((g) => [g.product_code, g.status])), channels, user.name);
  const [product] = plan.seatProducts;
  if (!product || plan.seatProducts.length > 1 || plan.pooledChannels.length > 0) return null;

  const actor = actorOf(ctx.viewer);
  const session = newSessionRow(ctx, orgId, user.id, now, plan.heldChannels, deviceId);
  const attempt = () =>
    retrying(
      ctx.db,
      () =>
        repo.startWithOneSeat(ctx.db, {
          organizationId: orgId,
          pool: { product: product.code },
          today: dayOf(now),
          session: {
            id: session.id,
            userId: user.id,
            startedAt: now,
            expiresAt: session.expires_at,
            expiresCapMs: expiresCapMs(ctx),
            deviceId,
            apiTokenId: actor.apiTokenId,
            channels: plan.heldChannels,
          },
          event: { id: newId(now), actor: actor.actor, detailSuffix: channelSuffix(plan.heldChannels, plan.deniedChannels) },
          notifyChannel: LIVE_CHANNEL,
        }),
      { label: 'startSession' },
    );
  let result = await attempt();
  // The user is no longer ACTIVE (or gone) since the probe: the transactional path gives the exact answer.
  if (!result.product) return null;
  if (!result.taken) {
    // Full: give back the seats of sessions nobody renewed (a crashed instance's), then try once more (R-CONC-3).
    const expired = await withTransaction(ctx.db, (trx) => expireDue(trx, now, 50, orgId, SYSTEM), { label: 'expireSessions' });
    if (expired > 0) result = await attempt();
    if (!result.product) return null;
  }
  const { taken } = result;
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
  mayExpire: boolean,
): Promise<StartResult> {
  const now = ctx.clock.now();
  const orgId = user.organization_id;
  // Lock order 2: the user, share-locked until commit (a status change or deletion waits for this start).
  const locked = await repo.lockUserForStart(trx, orgId, user.id);
  if (!locked) throw notFound('user', user.id);
  if (locked.status !== 'ACTIVE') throw new Denied('USER_NOT_ACTIVE', notActive(user.name, locked.status));
  const open = await repo.openSessionOf(trx, orgId, user.id);
  if (open && open.expires_at > now) {
    return { granted: true, session: open, denial: null, grantedChannels: open.channels, deniedChannels: [], changedPools: [] };
  }
  if (open) {
    if (mayExpire) throw new ExpireFirst(orgId);
    await endSessionRows(trx, [open], now, 'EXPIRED', SYSTEM);
  }

  const licensing = await licensingOf(ctx, trx, orgId);
  const seats: { product: string; kind: SeatKind | 'DEMO'; channel: string | null; counter: repo.PoolCounter }[] = [];
  const grantedChannels: string[] = [];
  const deniedChannels: StartResult['deniedChannels'] = [];

  if (!licensing.status.fullUse) {
    // R-LIFE-5 / R-DEMO-1: whatever the catalog, at most demoAgentLimit sessions at once.
    const counter = await takeSeat(ctx, trx, orgId, DEMO_POOL, mayExpire);
    if (!counter) {
      throw new Denied(
        'DEMO_LIMIT_REACHED',
        `the licence is ${licensing.status.state}: demo mode allows ${licensing.status.demoAgentLimit} session(s) at once and they are taken`,
      );
    }
    seats.push({ product: DEMO_POOL, kind: 'DEMO', channel: null, counter });
    for (const channel of channels)
      deniedChannels.push({
        channel,
        code: 'LICENSE_INACTIVE',
        message: `the licence is ${licensing.status.state}: channel licences are not granted in demo mode`,
      });
  } else {
    const grants = new Map((await repo.grantsOfUser(trx, orgId, user.id)).map((g) => [g.product_code, g.status]));
    const plan = planSession(licensing, grants, channels, user.name);
    // Lock order 3: seat and channel units together, by product code.
    const wanted = [
      ...plan.seatProducts.map((p) => ({ product: p.code, channel: null as string | null })),
      ...plan.pooledChannels.map((c) => ({ product: c.product, channel: c.channel as string | null })),
    ].sort((x, y) => byCode(x.product, y.product));
    const taken = new Map<string, (typeof seats)[number]>();
    for (const { product, channel } of wanted) {
      const counter = await takeSeat(ctx, trx, orgId, product, mayExpire);
      if (!counter && channel === null) throw new Denied('NO_SEAT_AVAILABLE', noSeat(product));
      if (counter)
        taken.set(channel ?? `seat ${product}`, {
          product,
          kind: kindOfSeat(counter.in_use, counter.capacity, counter.emergency_capacity),
          channel,
          counter,
        });
    }
    // Reported as planned: seats, then channels (held ones first).
    for (const p of plan.seatProducts) seats.push(taken.get(`seat ${p.code}`)!);
    grantedChannels.push(...plan.heldChannels);
    deniedChannels.push(...plan.deniedChannels);
    for (const { channel, product } of plan.pooledChannels) {
      const seat = taken.get(channel);
      if (seat) {
        seats.push(seat);
        grantedChannels.push(channel);
      } else {
        deniedChannels.push({ channel, code: 'NO_SEAT_AVAILABLE', message: `all ${product} units are in use` });
      }
    }
  }

  const kind = seats.reduce<SeatKind | 'DEMO'>((worst, s) => (KIND_ORDER[s.kind] > KIND_ORDER[worst] ? s.kind : worst), 'REGULAR');
  const session: SessionRow = { ...newSessionRow(ctx, orgId, user.id, now, grantedChannels, deviceId), seat_kind: kind };
  const seatRows: SessionSeatRow[] = seats.map((s) => ({
    organization_id: orgId,
    session_id: session.id,
    product_code: s.product,
    seat_kind: s.kind,
    channel: s.channel,
  }));
  await repo.insertSession(trx, session, seatRows, expiresCapMs(ctx));
  await repo.recordUsage(
    trx,
    orgId,
    now,
    seats.map((s) => ({ product: s.product, counter: s.counter })),
  );
  const first = seats[0];
  await appendEvents(trx, [
    {
      organizationId: orgId,
      type: 'SESSION_STARTED',
      at: now,
      userId: user.id,
      productCode: first?.product === DEMO_POOL ? null : (first?.product ?? null),
      detail: `${seats.map((s) => (s.product === DEMO_POOL ? 'demo seat' : `${s.product} ${s.kind}`)).join(', ')}${channelSuffix(grantedChannels, deniedChannels)}`,
      ...actorOf(ctx.viewer),
    },
  ]);
  return { granted: true, session, denial: null, grantedChannels, deniedChannels, changedPools: seats.map((s) => s.product) };
}

/**
 * Why a session ended (`sessions.end_reason`, `Session.endReason`): ENDED by
 * its client, EXPIRED without heartbeat, or ended because its user was
 * deleted or left ACTIVE (USER_DELETED, USER_INACTIVE, USER_PREPARING).
 */
export type EndReason = 'ENDED' | 'EXPIRED' | 'USER_DELETED' | 'USER_INACTIVE' | 'USER_PREPARING';

const END_DETAIL: Record<EndReason, string> = {
  ENDED: '',
  EXPIRED: '',
  USER_DELETED: 'the user was deleted',
  USER_INACTIVE: 'the user became INACTIVE',
  USER_PREPARING: 'the user went back to PREPARING',
};

/** The end reason for a user who may no longer hold a session (deleted: undefined status). */
export function userEndReason(status: string | undefined): EndReason | null {
  if (status === undefined) return 'USER_DELETED';
  if (status === 'INACTIVE') return 'USER_INACTIVE';
  if (status === 'PREPARING') return 'USER_PREPARING';
  return null;
}

/**
 * Ends open sessions of ONE organization and frees their seats, in the lock
 * order: the pools of their seats first (`lockPools`, by product code), then
 * each session, only if it is still open (and, for an expiry, still
 * overdue), then each pool decremented once by the seats actually freed. A
 * session someone else ended first is skipped, so no seat is freed twice.
 * Appends SESSION_EXPIRED / SESSION_ENDED (with the reason) in the same
 * transaction; their NOTIFY refreshes live utilization on commit.
 */
async function endSessionRows(
  trx: Executor,
  sessions: readonly SessionRow[],
  at: Date,
  reason: EndReason,
  actor: Pick<EventInput, 'actor' | 'apiTokenId'>,
): Promise<SessionRow[]> {
  const organizationId = sessions[0]?.organization_id;
  if (organizationId === undefined) return [];
  if (sessions.some((s) => s.organization_id !== organizationId)) throw new Error('endSessionRows: sessions of one organization at a time');
  const seats = await repo.seatsOfSessions(
    trx,
    organizationId,
    sessions.map((s) => s.id),
  );
  await repo.lockPools(trx, organizationId, [...new Set(seats.map((s) => s.product_code))]);
  const closed: SessionRow[] = [];
  for (const session of sessions) {
    const row = await repo.closeSession(trx, organizationId, session.id, at, reason, reason === 'EXPIRED' ? at : undefined);
    if (row) closed.push(row);
  }
  const closedIds = new Set(closed.map((s) => s.id));
  const freed = new Map<string, number>();
  for (const seat of seats) if (closedIds.has(seat.session_id)) freed.set(seat.product_code, (freed.get(seat.product_code) ?? 0) + 1);
  const changes: { product: string; counter: repo.PoolCounter }[] = [];
  for (const [product, count] of [...freed].sort(([x], [y]) => byCode(x, y))) {
    const counter = await repo.releaseSeat(trx, organizationId, product, dayOf(at), count);
    if (counter) changes.push({ product, counter });
  }
  await repo.recordUsage(trx, organizationId, at, changes);
  await appendEvents(
    trx,
    closed.map((session) => ({
      organizationId,
      type: reason === 'EXPIRED' ? 'SESSION_EXPIRED' : 'SESSION_ENDED',
      at,
      userId: session.user_id,
      detail:
        reason === 'EXPIRED'
          ? `session ${session.id} not renewed since ${session.expires_at.toISOString()}`
          : reason === 'ENDED'
            ? `session ${session.id}`
            : `session ${session.id} ended: ${END_DETAIL[reason]} (${reason})`,
      ...actor,
    })),
  );
  return closed;
}

/**
 * Ends the open sessions of users who may no longer hold one, in the
 * caller's transaction (the status change or deletion itself, which holds
 * the organization's and the users' row locks): their seats and channel
 * units are free when it commits, with SESSION_ENDED carrying `reason`.
 */
export async function endSessionsOfUsers(
  ctx: Context,
  trx: Executor,
  organizationId: string,
  userIds: readonly string[],
  reason: EndReason,
): Promise<SessionRow[]> {
  const open = await repo.openSessionsOfUsers(trx, organizationId, userIds);
  return endSessionRows(trx, open, ctx.clock.now(), reason, actorOf(ctx.viewer));
}

/**
 * Expires overdue open sessions of one organization (R-CONC-3): safe on
 * every instance at once (the pool locks serialize them and a session is
 * ended only while still open and overdue), and also used when a start finds
 * its pool full. Returns how many expired.
 */
export async function expireDue(
  trx: Executor,
  now: Date,
  limit: number,
  organizationId: string,
  actor: Pick<EventInput, 'actor' | 'apiTokenId'>,
): Promise<number> {
  const due = await repo.overdueSessions(trx, organizationId, now, limit);
  return (await endSessionRows(trx, due, now, 'EXPIRED', actor)).length;
}

export interface SweepOptions {
  /** Sessions per transaction (default 200). */
  batch?: number;
  /** An organization whose expiry failed: the others are still swept; the next sweep tries it again. */
  onError?: (organizationId: string, error: unknown) => void;
}

/**
 * The background sweep: expires overdue sessions organization by
 * organization, in batches, each batch one transaction. One organization's
 * failure is reported to `onError` and does not stop the others.
 */
export async function sweepExpiredSessions(db: Db, clock: Clock, options: SweepOptions = {}): Promise<number> {
  const batch = options.batch ?? 200;
  let total = 0;
  for (const organizationId of await repo.organizationsWithOverdue(db, clock.now())) {
    try {
      for (;;) {
        const expired = await withTransaction(db, (trx) => expireDue(trx, clock.now(), batch, organizationId, SYSTEM), {
          label: 'expireSessions',
        });
        total += expired;
        if (expired < batch) break;
      }
    } catch (error) {
      options.onError?.(organizationId, error);
    }
  }
  return total;
}

async function loadSession(ctx: Context, trx: Executor, sessionId: string): Promise<SessionRow> {
  requireAuthenticated(ctx.viewer);
  const session = isId(sessionId) ? await repo.findSession(trx, sessionId, viewerOrganization(ctx.viewer)) : undefined;
  if (!session) throw notFound('session', sessionId);
  authorize(ctx.viewer, session.organization_id, 'sessions', 'session', sessionId);
  return session;
}

/** A session whose user was deleted has no user to show: asking for it is NOT_FOUND, saying why. */
const userDeleted = (sessionId: string) =>
  notFound('session', sessionId, { reason: 'USER_DELETED', why: 'its user was deleted and the session ended' });

/**
 * R-CONC-3: renews an open session for another SESSION_TTL_SECONDS. A session
 * already past its expiry is expired now (its seats freed) and returned
 * ended: the client must start a new one. So is the session of a user who is
 * no longer ACTIVE (endReason USER_INACTIVE / USER_PREPARING); the session
 * of a deleted user is NOT_FOUND (reason USER_DELETED).
 */
export async function heartbeat(ctx: Context, input: { sessionId: string }): Promise<SessionRow> {
  const session = await withTransaction(
    ctx.db,
    async (trx) => {
      const session = await loadSession(ctx, trx, input.sessionId);
      const now = ctx.clock.now();
      if (session.ended_at) return session;
      const renewed = await repo.renewSession(
        trx,
        session.organization_id,
        session.id,
        now,
        new Date(now.getTime() + ctx.sessionTtlSeconds * 1000),
        expiresCapMs(ctx),
      );
      if (renewed) return renewed;
      // Not renewed: overdue, or its user is gone or no longer ACTIVE (a session left over from before such a change ended them).
      const user = await findUser(trx, session.user_id, session.organization_id);
      const reason = userEndReason(user?.status) ?? 'EXPIRED';
      const [ended] = await endSessionRows(trx, [session], now, reason, SYSTEM);
      return ended ?? (await repo.findSession(trx, session.id, session.organization_id)) ?? session;
    },
    { label: 'heartbeat' },
  );
  if (session.end_reason === 'USER_DELETED') throw userDeleted(session.id);
  return session;
}

/** Ends a session and frees its seats; ending an ended session returns it unchanged (NOT_FOUND when its user was deleted). */
export async function endSession(ctx: Context, input: { sessionId: string }): Promise<{ session: SessionRow; changed: boolean }> {
  const result = await withTransaction(
    ctx.db,
    async (trx) => {
      const session = await loadSession(ctx, trx, input.sessionId);
      if (session.ended_at) return { session, changed: false };
      const user = await findUser(trx, session.user_id, session.organization_id);
      const reason: EndReason = user ? 'ENDED' : 'USER_DELETED';
      const [ended] = await endSessionRows(trx, [session], ctx.clock.now(), reason, reason === 'ENDED' ? actorOf(ctx.viewer) : SYSTEM);
      return ended
        ? { session: ended, changed: true }
        : { session: (await repo.findSession(trx, session.id, session.organization_id)) ?? session, changed: false };
    },
    { label: 'endSession' },
  );
  if (result.session.end_reason === 'USER_DELETED') throw userDeleted(result.session.id);
  return result;
}
