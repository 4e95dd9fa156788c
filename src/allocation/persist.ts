/**
 * Stores what the organization's licensing state decides: the allocation's
 * result (user_grants, with LICENSE_GRANTED / LICENSE_REVOKED events) and the
 * seat pool sizes, and the configuration writes the allocation follows (a
 * group's functions on its members, functions a user lost entirely). Every
 * function runs on the caller's transaction, which holds the organization's
 * row lock.
 *
 * @example
 * await persistAllocation(trx, await write.loadAfterWrites(org, catalog, now), actorOf(ctx.viewer));
 */
import type { AssignmentRow, UserSettingRow } from '../db/schema.ts';
import type { ConfigurationGroup } from '../tenancy/domain.ts';
import type { Executor } from '../db/database.ts';
import { appendEvents, type EventInput } from '../events/events.repository.ts';
import { DEMO_POOL } from '../licensing/seats.ts';
import * as repo from './allocation.repository.ts';
import type { AllocationView } from './view.ts';

/**
 * Stores the allocation's result (user_grants) and the pool sizes, and
 * records LICENSE_GRANTED / LICENSE_REVOKED for every status that changed
 * since the last stored one, including the next user in line receiving a
 * freed licence (R-UNDER-3) and licences a new key grants or takes away.
 */
export async function persistAllocation(
  trx: Executor,
  view: AllocationView,
  actor: Pick<EventInput, 'actor' | 'apiTokenId'>,
): Promise<void> {
  const stored = new Map((await repo.grantsOf(trx, view.org.id)).map((g) => [`${g.user_id}|${g.product_code}`, g.status]));
  const upserts: { userId: string; product: string; status: string }[] = [];
  const events: EventInput[] = [];
  const event = (type: EventInput['type'], userId: string, product: string, detail: string): EventInput => ({
    organizationId: view.org.id,
    type,
    at: view.now,
    userId,
    productCode: product,
    detail,
    ...actor,
  });
  // A tier's features (Zoom's channels, reporting …) are stored for seat decisions but are no licences of their own: no events.
  const licensed = new Set(view.catalog.products.filter((p) => p.purchasable).map((p) => p.code));
  for (const [userId, licenses] of view.result.users) {
    for (const l of licenses) {
      const key = `${userId}|${l.product}`;
      const was = stored.get(key);
      stored.delete(key);
      if (was === l.status) continue;
      upserts.push({ userId, product: l.product, status: l.status });
      if (!licensed.has(l.product)) continue;
      if (l.status === 'GRANTED') {
        events.push(
          event(
            'LICENSE_GRANTED',
            userId,
            l.product,
            `${l.source}${l.rank ? `, rank ${l.rank}` : ''}${l.coveredBy ? `, covered by ${l.coveredBy}` : ''}`,
          ),
        );
      } else if (was === 'GRANTED') {
        events.push(event('LICENSE_REVOKED', userId, l.product, `now ${l.status}${l.rank ? ` (rank ${l.rank})` : ''}`));
      }
    }
  }
  const removed = [...stored].map(([key, status]) => {
    const [userId = '', product = ''] = key.split('|');
    if (status === 'GRANTED' && licensed.has(product)) events.push(event('LICENSE_REVOKED', userId, product, 'no longer configured'));
    return { userId, product };
  });
  await repo.upsertGrants(trx, view.org.id, upserts);
  await repo.deleteGrants(trx, view.org.id, removed);
  await appendEvents(trx, events);

  const pools = view.entitlements
    .filter((e) => e.allocation === 'CONCURRENT')
    .map((e) => ({
      organization_id: view.org.id,
      product_code: e.product,
      capacity: e.total,
      emergency_capacity: e.emergencyQuantity,
      overage_allowed: e.overageAllowed,
      overage_grace_minutes: e.overageGraceMinutes,
    }));
  const known = new Set(pools.map((p) => p.product_code));
  for (const pool of await repo.poolsOf(trx, view.org.id)) {
    // A pool the current key no longer lists keeps its sessions but takes no new ones.
    if (!known.has(pool.product_code) && pool.product_code !== DEMO_POOL) {
      pools.push({ ...pool, capacity: 0, emergency_capacity: 0, overage_allowed: false });
    }
  }
  pools.push({
    organization_id: view.org.id,
    product_code: DEMO_POOL,
    capacity: view.status.demoAgentLimit,
    emergency_capacity: 0,
    overage_allowed: false,
    overage_grace_minutes: 0,
  });
  // The upsert locks every pool row: in the one pool order (product code, byte order; see src/sessions/lock-order.ts).
  pools.sort((x, y) => (x.product_code < y.product_code ? -1 : x.product_code > y.product_code ? 1 : 0));
  await repo.upsertPools(trx, pools);
}

/** GROUP rows for the users: add the group's functions (configured now), drop functions the group no longer has. */
export async function syncGroupRows(
  trx: Executor,
  organizationId: string,
  users: readonly { id: string; groupId: string | null }[],
  groups: ReadonlyMap<string, Pick<ConfigurationGroup, 'functions'>>,
  current: readonly AssignmentRow[],
  now: Date,
): Promise<{ userId: string; product: string }[]> {
  const removed: { userId: string; product: string }[] = [];
  const added: AssignmentRow[] = [];
  for (const user of users) {
    const wanted = new Set(user.groupId ? (groups.get(user.groupId)?.functions ?? []) : []);
    const have = current.filter((a) => a.user_id === user.id && a.source === 'GROUP');
    for (const a of have) {
      if (wanted.has(a.product_code)) continue;
      await repo.deleteAssignment(trx, organizationId, user.id, a.product_code, 'GROUP');
      removed.push({ userId: user.id, product: a.product_code });
    }
    for (const product of wanted) {
      if (!have.some((a) => a.product_code === product))
        added.push({ organization_id: organizationId, user_id: user.id, product_code: product, source: 'GROUP', configured_at: now });
    }
  }
  await repo.insertAssignments(trx, added);
  return removed;
}

export interface Released {
  userId: string;
  product: string;
}

/**
 * Functions a user lost entirely (no group function and no direct assignment
 * left): their licences are released and their personal settings deleted
 * (R-NAMED-4).
 */
export async function releaseFunctions(
  trx: Executor,
  organizationId: string,
  removed: readonly Released[],
): Promise<{ released: Released[]; deletedSettings: UserSettingRow[] }> {
  const remaining = await repo.assignmentsOf(trx, organizationId);
  const released = removed.filter((r) => !remaining.some((a) => a.user_id === r.userId && a.product_code === r.product));
  const deletedSettings = await repo.deleteSettings(trx, organizationId, released);
  return { released, deletedSettings };
}
