/**
 * What-if for every change (`dryRun`): the real mutation runs in its own
 * transaction, the consequences are read from that transaction before and
 * after it (licences gained and lost, pools' new capacities, sessions ended,
 * sessions beyond a pool), and with `dryRun` the transaction is rolled back.
 * The preview is the real change by construction: the same code on the same
 * rows, under the same locks. Nothing leaves a rolled-back transaction: the
 * webhook outbox, the event log and their NOTIFY are rows of it, and the
 * allocation cache is published only at commit (allocation/cache.ts).
 *
 * @example
 * const { result, changes } = await withChanges(ctx, orgId, true, (c) => updateUserStatus(c, input));
 * changes.licencesLost; // [{ userId, product: 'AGENT_SEAT' }], and nothing changed
 */
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import { viewerOrganization } from '../auth/viewer.ts';
import { isId } from '../ids.ts';
import type { LoadedAllocation } from '../allocation/view.ts';
import { catalogOf } from '../tenancy/access.ts';
import { findGroup, findOrganization, findUser, lockOrganization } from '../tenancy/tenancy.repository.ts';

export interface LicenceChange {
  userId: string;
  product: string;
}

export interface PoolChange {
  product: string;
  capacityBefore: number;
  capacityAfter: number;
  emergencyCapacityBefore: number;
  emergencyCapacityAfter: number;
  /** Seats in use after the change. */
  inUse: number;
  /** Sessions beyond capacity + emergency after the change (overage not allowed): they go on, no new seat until below. */
  sessionsBeyond: number;
}

export interface ChangeReport {
  applied: boolean;
  licencesGained: LicenceChange[];
  licencesLost: LicenceChange[];
  pools: PoolChange[];
  sessionsEnded: { sessionId: string; userId: string }[];
}

interface Snapshot {
  grants: Set<string>;
  pools: Map<string, { capacity: number; emergency_capacity: number; overage_allowed: boolean; in_use: number }>;
  open: Map<string, string>;
}

async function snapshot(trx: Executor, organizationId: string): Promise<Snapshot> {
  const grants = await trx
    .selectFrom('user_grants')
    .select(['user_id', 'product_code'])
    .where('organization_id', '=', organizationId)
    .where('status', '=', 'GRANTED')
    .execute();
  const pools = await trx
    .selectFrom('seat_pools')
    .select(['product_code', 'capacity', 'emergency_capacity', 'overage_allowed', 'in_use'])
    .where('organization_id', '=', organizationId)
    .execute();
  const open = await trx
    .selectFrom('sessions')
    .select(['id', 'user_id'])
    .where('organization_id', '=', organizationId)
    .where('ended_at', 'is', null)
    .execute();
  return {
    grants: new Set(grants.map((g) => `${g.user_id} ${g.product_code}`)),
    pools: new Map(pools.map((p) => [p.product_code, p])),
    open: new Map(open.map((s) => [s.id, s.user_id])),
  };
}

const byUserAndProduct = (x: LicenceChange, y: LicenceChange) =>
  x.userId < y.userId ? -1 : x.userId > y.userId ? 1 : x.product < y.product ? -1 : x.product > y.product ? 1 : 0;
const licence = (key: string): LicenceChange => {
  const [userId = '', product = ''] = key.split(' ');
  return { userId, product };
};

/** The consequences of a change between two snapshots of one organization. Pure. */
function changesBetween(before: Snapshot, after: Snapshot, applied: boolean): ChangeReport {
  const pools: PoolChange[] = [];
  for (const product of [...new Set([...before.pools.keys(), ...after.pools.keys()])].sort()) {
    const b = before.pools.get(product);
    const a = after.pools.get(product);
    const capacityBefore = b?.capacity ?? 0;
    const capacityAfter = a?.capacity ?? 0;
    const emergencyBefore = b?.emergency_capacity ?? 0;
    const emergencyAfter = a?.emergency_capacity ?? 0;
    const inUse = a?.in_use ?? 0;
    const beyond = a?.overage_allowed ? 0 : Math.max(0, inUse - capacityAfter - emergencyAfter);
    const beyondBefore = b?.overage_allowed ? 0 : Math.max(0, (b?.in_use ?? 0) - capacityBefore - emergencyBefore);
    if (capacityBefore === capacityAfter && emergencyBefore === emergencyAfter && beyond === beyondBefore) continue;
    pools.push({
      product,
      capacityBefore,
      capacityAfter,
      emergencyCapacityBefore: emergencyBefore,
      emergencyCapacityAfter: emergencyAfter,
      inUse,
      sessionsBeyond: beyond,
    });
  }
  return {
    applied,
    licencesGained: [...after.grants]
      .filter((k) => !before.grants.has(k))
      .map(licence)
      .sort(byUserAndProduct),
    licencesLost: [...before.grants]
      .filter((k) => !after.grants.has(k))
      .map(licence)
      .sort(byUserAndProduct),
    pools,
    sessionsEnded: [...before.open]
      .filter(([id]) => !after.open.has(id))
      .map(([sessionId, userId]) => ({ sessionId, userId }))
      .sort((x, y) => (x.sessionId < y.sessionId ? -1 : 1)),
  };
}

/** Thrown to roll a dry run back once its result and report are computed. */
class Rehearsal<T> extends Error {
  constructor(
    readonly result: T,
    readonly changes: ChangeReport,
    readonly allocation: LoadedAllocation | null,
  ) {
    super('dry run');
  }
}

/**
 * Runs `change` (a service call that makes its writes in ONE
 * `ctx.writeTransaction`) and reports its consequences for `organizationId`;
 * with `dryRun` rolls it back. The organization row is locked first (lock
 * order step 1, which the change takes next anyway), so the two snapshots
 * see this change only. `organizationId` null (the target was not found):
 * the change runs as it is and answers with its own error. `report` false
 * (the caller did not select `changes`) skips the snapshots of a real change.
 */
export async function withChanges<T>(
  ctx: Context,
  organizationId: string | null,
  dryRun: boolean,
  change: (ctx: Context) => Promise<T>,
  options: { allocation?: boolean; report?: boolean } = {},
): Promise<{ result: T; changes: ChangeReport; allocation: LoadedAllocation | null }> {
  // Nobody asked for the report and nothing is rolled back: the change alone (no snapshot reads on the hot path).
  if (organizationId === null || (!dryRun && options.report === false)) {
    const result = await change(ctx);
    return { result, changes: { applied: !dryRun, licencesGained: [], licencesLost: [], pools: [], sessionsEnded: [] }, allocation: null };
  }
  let changes: ChangeReport | null = null;
  let allocation: LoadedAllocation | null = null;
  const watched: Context = {
    ...ctx,
    writeTransaction: (work) =>
      ctx.writeTransaction(async (trx, write) => {
        await lockOrganization(trx, organizationId);
        const before = await snapshot(trx, organizationId);
        const result = await work(trx, write);
        const report = changesBetween(before, await snapshot(trx, organizationId), !dryRun);
        // The allocation as the change leaves it, read in its transaction (a dry run's is gone after the rollback).
        const org = options.allocation ? await findOrganization(trx, organizationId) : undefined;
        const view = org ? await write.load(org, catalogOf(ctx, org), ctx.clock.now()) : null;
        if (dryRun) throw new Rehearsal(result, report, view);
        changes = report;
        allocation = view;
        return result;
      }),
  };
  try {
    const result = await change(watched);
    return {
      result,
      changes: changes ?? { applied: !dryRun, licencesGained: [], licencesLost: [], pools: [], sessionsEnded: [] },
      allocation,
    };
  } catch (error) {
    if (error instanceof Rehearsal) return { result: error.result as T, changes: error.changes, allocation: error.allocation };
    throw error;
  }
}

/** The organization of a user the viewer may name, or null (the change then answers NOT_FOUND itself). */
export async function organizationOfUser(ctx: Context, userId: string): Promise<string | null> {
  if (!isId(userId)) return null;
  return (await findUser(ctx.db, userId, viewerOrganization(ctx.viewer)))?.organization_id ?? null;
}

/** The organization of a configuration group the viewer may name, or null. */
export async function organizationOfGroup(ctx: Context, groupId: string): Promise<string | null> {
  if (!isId(groupId)) return null;
  return (await findGroup(ctx.db, groupId, viewerOrganization(ctx.viewer)))?.organization_id ?? null;
}

/** An organization id the viewer may name, or null. */
export function reachableOrganization(ctx: Context, organizationId: string): string | null {
  const scope = viewerOrganization(ctx.viewer);
  return isId(organizationId) && (scope === null || scope === organizationId) ? organizationId : null;
}
