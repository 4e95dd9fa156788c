import { actorOf } from '../auth/viewer.ts';
import type { Catalog, Product } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { AssignmentRow, ConfigurationGroupRow, LicenseSlotRow, OrganizationRow, UserRow, UserSettingRow } from '../db/schema.ts';
import { badInput } from '../errors.ts';
import { appendEvents, type EventInput } from '../events/events.repository.ts';
import { pickSlot, summarizeSlots } from '../licensing/reassignment.ts';
import { isId } from '../ids.ts';
import { catalogOf, getGroup, getUser } from '../tenancy/access.ts';
import {
  findOrganization,
  findUser,
  lockOrganization as lockOrganizationRow,
  setUsersGroup,
  updateGroup as updateGroupRow,
} from '../tenancy/tenancy.repository.ts';
import { validateGroupConfig } from '../tenancy/validate.ts';
import { withTransaction } from '../db/transaction.ts';
import { loadAllocationAfterWrites, writeTransaction } from './allocation-cache.ts';
import { cooldownProducts, loadAllocation, toSlot, type AllocationView, type LoadedAllocation } from './allocation-view.ts';
import * as repo from './assignments.repository.ts';

async function lockOrganization(trx: Executor, id: string): Promise<OrganizationRow> {
  const org = await lockOrganizationRow(trx, id);
  if (!org) throw new Error(`organization ${id} vanished under lock`);
  return org;
}

/** Products configured for a user (any source) and the countable licences they include. */
function neededProducts(catalog: Catalog, assignments: readonly AssignmentRow[], userId: string): Set<string> {
  const needed = new Set<string>();
  for (const a of assignments) {
    if (a.user_id !== userId) continue;
    needed.add(a.product_code);
    for (const i of catalog.products.find((p) => p.code === a.product_code)?.includes ?? []) if (i.countsTowardTotal) needed.add(i.product);
  }
  return needed;
}

/**
 * Keeps base licence slots in step with configuration (R-REASSIGN): users no
 * longer configured release their slot (its window stays), newly configured
 * users take a free slot or spend a reusable one's early reassignment. When
 * none is left the change is refused.
 */
async function syncSlots(trx: Executor, view: LoadedAllocation, field: string): Promise<void> {
  const assignments = await repo.assignmentsOf(trx, view.org.id);
  const userIds = new Set((await repo.usersWithOptions(trx, view.org.id)).map((u) => u.id));
  const totals = new Map(view.entitlements.map((e) => [e.product, e.total]));
  for (const product of cooldownProducts(view.catalog)) {
    const days = product.reassignCooldownDays ?? 0;
    const rows = view.slotRows.filter((s) => s.product_code === product.code).map((r) => ({ ...r }));
    const needers = [...userIds].filter((id) => neededProducts(view.catalog, assignments, id).has(product.code)).sort();
    for (const row of rows) {
      if (row.holder_user_id !== null && !needers.includes(row.holder_user_id)) {
        row.holder_user_id = null;
        await repo.upsertSlot(trx, row);
      }
    }
    const holders = new Set(rows.map((r) => r.holder_user_id));
    for (const userId of needers) {
      if (holders.has(userId)) continue;
      const total = totals.get(product.code) ?? 0;
      const choice = pickSlot(rows.map(toSlot), view.status.effectiveAt, days, total);
      // A user who already went without a slot (the key shrank) is not this change's doing.
      if (!choice && neededProducts(view.catalog, view.assignments, userId).has(product.code)) continue;
      if (!choice) {
        const s = summarizeSlots(rows.map(toSlot), view.status.effectiveAt, days, total);
        // Before any key (NONE) or before a future key starts (PENDING) there is no licence at all: say so (R-LIFE-5, R-KEY-4).
        const { state } = view.status;
        if (total === 0 && (state === 'NONE' || state === 'PENDING')) {
          throw badInput(
            field,
            `no ${product.code} licence can be assigned: ${state === 'NONE' ? 'no licence key is active' : 'the licence key has not started yet'} (licence state ${state}); activate a key with activateLicenseKey first`,
            state === 'NONE' ? 'R-LIFE-5' : 'R-KEY-4',
          );
        }
        throw badInput(
          field,
          `no ${product.code} licence can be assigned: ${s.held} of ${total} are held and ${s.bound} are bound by the ${days}-day reassignment cool-down`,
          'R-REASSIGN-1',
        );
      }
      const existing = rows.find((r) => r.slot_no === choice.slotNo);
      const row: LicenseSlotRow = {
        organization_id: view.org.id,
        product_code: product.code,
        slot_no: choice.slotNo,
        holder_user_id: userId,
        window_start: choice.opensWindow ? view.status.effectiveAt : (existing?.window_start ?? view.status.effectiveAt),
        early_used: !choice.opensWindow,
      };
      if (existing) Object.assign(existing, row);
      else rows.push(row);
      await repo.upsertSlot(trx, row);
    }
  }
}

export interface ChangeChecks {
  /** The input field a refusal names. */
  field: string;
  /** Refuse when this pair is missing a prerequisite afterwards (direct assignment, R-NAMED-3). */
  direct?: { userId: string; product: string };
  /** Refuse when a product a user held loses a prerequisite (direct unassignment). */
  protectDependents?: boolean;
}

function userName(view: LoadedAllocation, userId: string): string {
  return view.usersById.get(userId)?.name ?? userId;
}

/**
 * The refusals of R-NAMED-2 / R-FIX-1 (REFUSE and fixed-seat products never
 * queue), R-NAMED-3 (direct assignment with an unmet prerequisite) and the
 * removal of a licence another held product needs.
 */
function refusal(before: AllocationView, after: LoadedAllocation, checks: ChangeChecks) {
  if (checks.direct) {
    const l = after.result.users.get(checks.direct.userId)?.find((x) => x.product === checks.direct?.product);
    if (l?.status === 'MISSING_PREREQUISITE') {
      return badInput(
        checks.field,
        `${l.product} cannot be assigned to ${userName(after, checks.direct.userId)}: it needs ${l.missing.join('; ')}`,
        'R-NAMED-3',
      );
    }
  }
  for (const [userId, licenses] of after.result.users) {
    const was = new Map((before.result.users.get(userId) ?? []).map((l) => [l.product, l.status]));
    for (const l of licenses) {
      const product = after.catalog.products.find((p) => p.code === l.product);
      if (!product) continue;
      const allocation = after.entitlements.find((e) => e.product === l.product)?.allocation ?? product.allocation;
      // R-ADDON-1: an add-on that a bundle the user holds covers only up to its seat count (Elite concurrent → WFM, QM)
      // is ranked, not refused: users beyond the coverage have no access until add-ons are bought (addOnCoverage shortfall).
      const beyondBundleCoverage = after.catalog.products.some(
        (b) =>
          b.includes.some((i) => i.product === l.product && !i.countsTowardTotal) &&
          licenses.some((x) => x.product === b.code && x.status === 'GRANTED'),
      );
      const refuses = (product.whenExhausted === 'REFUSE' && !beyondBundleCoverage) || allocation === 'FIXED_SEAT';
      if (
        refuses &&
        allocation !== 'CONCURRENT' &&
        l.status === 'UNLICENSED' &&
        l.rank !== null &&
        after.status.fullUse &&
        was.get(l.product) !== 'UNLICENSED'
      ) {
        const stats = after.result.products.get(l.product);
        if (allocation === 'FIXED_SEAT') {
          const holders = [...after.result.users]
            .filter(([, ls]) => ls.some((x) => x.product === l.product && x.status === 'GRANTED'))
            .map(([id]) => userName(after, id));
          return badInput(
            checks.field,
            `${l.product} is a fixed seat bound to ${holders.join(', ') || 'another user'}; nobody else may hold it`,
            'R-FIX-1',
          );
        }
        return badInput(
          checks.field,
          `all ${stats?.capacity ?? 0} ${l.product} licences are held; take one from another user before giving it to ${userName(after, userId)}`,
          'R-NAMED-2',
        );
      }
      if (checks.protectDependents && l.status === 'MISSING_PREREQUISITE' && was.get(l.product) === 'GRANTED') {
        return badInput(
          checks.field,
          `${userName(after, userId)}'s ${l.product} needs it (${l.missing.join('; ')}); remove ${l.product} first`,
          'R-NAMED-3',
        );
      }
    }
  }
  return null;
}

export interface ConfigurationChange {
  before: LoadedAllocation;
  after: LoadedAllocation;
}

/**
 * The one write path for anything that changes who needs which licence:
 * computes the allocation before, applies `apply`, keeps base licence slots in
 * step, computes it after, refuses what the rules forbid, and records
 * LICENSE_GRANTED / LICENSE_REVOKED for every change, including the next user
 * in line receiving a freed licence (R-UNDER-3). The caller holds the
 * organization's row lock, so changes of one organization are serialized.
 */
export async function changeConfiguration(
  ctx: Context,
  trx: Executor,
  org: OrganizationRow,
  catalog: Catalog,
  checks: ChangeChecks,
  apply: (before: LoadedAllocation) => Promise<void>,
): Promise<ConfigurationChange> {
  const now = ctx.clock.now();
  const before = await loadAllocation(trx, org, catalog, now);
  await apply(before);
  await syncSlots(trx, before, checks.field);
  // After every write of the change (slot syncs included); the grants persisted below are no input of it.
  const after = await loadAllocationAfterWrites(trx, org, catalog, now);
  const refused = refusal(before, after, checks);
  if (refused) throw refused;
  await persistAllocation(trx, after, actorOf(ctx.viewer));
  return { before, after };
}

/** The pseudo-product of the demo pool: at most demoAgentLimit sessions in NONE, PENDING and DEMO (R-DEMO-1). */
export const DEMO_POOL = '*DEMO';

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
  const event = (type: string, userId: string, product: string, detail: string): EventInput => ({
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
  // The upsert locks every pool row: in the one pool order (product code, byte order; see the lock order in sessions.service.ts).
  pools.sort((x, y) => (x.product_code < y.product_code ? -1 : x.product_code > y.product_code ? 1 : 0));
  await repo.upsertPools(trx, pools);
}

/** GROUP rows for the users: add the group's functions (configured now), drop functions the group no longer has. */
export async function syncGroupRows(
  trx: Executor,
  organizationId: string,
  users: readonly { id: string; groupId: string | null }[],
  groups: ReadonlyMap<string, Pick<ConfigurationGroupRow, 'functions'>>,
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

/* ------------------------------------------------------------ use cases */

function assignableProduct(catalog: Catalog, code: string, field: string): Product {
  const product = catalog.products.find((p) => p.code === code);
  if (!product) throw badInput(field, `unknown product "${code}" in catalog ${catalog.code}`);
  if (product.allocation === 'ACCOUNT')
    throw badInput(field, `${code} is held by the organization as a whole and is never assigned to users`);
  if (!product.purchasable) throw badInput(field, `${code} comes only as part of another product`);
  return product;
}

/** R-NAMED-1: assigns a product directly (source DIRECT). Idempotent. */
export async function assignLicense(ctx: Context, input: { userId: string; product: string }): Promise<UserRow> {
  return writeTransaction(ctx.db, async (trx) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    const org = await lockOrganization(trx, user.organization_id);
    const catalog = catalogOf(ctx, org);
    const product = assignableProduct(catalog, input.product, 'input.product');
    await changeConfiguration(
      ctx,
      trx,
      org,
      catalog,
      { field: 'input.product', direct: { userId: user.id, product: product.code } },
      async () => {
        await repo.insertAssignments(trx, [
          { organization_id: org.id, user_id: user.id, product_code: product.code, source: 'DIRECT', configured_at: ctx.clock.now() },
        ]);
      },
    );
    return user;
  });
}

/** Removes a direct assignment; a function of the user's group stays (move the user or change the group). */
export async function unassignLicense(ctx: Context, input: { userId: string; product: string }): Promise<UserRow> {
  return writeTransaction(ctx.db, async (trx) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    const org = await lockOrganization(trx, user.organization_id);
    const catalog = catalogOf(ctx, org);
    const product = assignableProduct(catalog, input.product, 'input.product');
    const rows = (await repo.assignmentsOf(trx, org.id)).filter((a) => a.user_id === user.id && a.product_code === product.code);
    if (!rows.some((a) => a.source === 'DIRECT')) {
      throw badInput(
        'input.product',
        rows.length > 0
          ? `${product.code} comes from the user's configuration group; move the user to another group or change the group's functions`
          : `${product.code} is not assigned to this user`,
      );
    }
    await changeConfiguration(ctx, trx, org, catalog, { field: 'input.product', protectDependents: true }, async () => {
      await repo.deleteAssignment(trx, org.id, user.id, product.code, 'DIRECT');
      await releaseFunctions(trx, org.id, [{ userId: user.id, product: product.code }]);
    });
    return user;
  });
}

export interface MoveReport {
  applied: boolean;
  userIds: string[];
  released: Released[];
  deletedSettings: UserSettingRow[];
  after: LoadedAllocation;
}

/** Thrown to roll a dry run back after it computed its report. */
class DryRun extends Error {
  constructor(readonly report: MoveReport) {
    super('dry run');
  }
}

/**
 * Runs `work` in a transaction; with `dryRun` it reports the same and rolls
 * everything back (R-NAMED-4), so its allocation never reaches the cache.
 */
async function maybeDry(ctx: Context, dryRun: boolean, work: (trx: Executor) => Promise<MoveReport>): Promise<MoveReport> {
  try {
    return await writeTransaction(ctx.db, async (trx) => {
      const report = await work(trx);
      if (dryRun) throw new DryRun({ ...report, applied: false });
      return report;
    });
  } catch (error) {
    if (error instanceof DryRun) return error.report;
    throw error;
  }
}

/**
 * R-NAMED-4: moves users into a configuration group. Functions they lose
 * release their licences and delete their personal settings; `dryRun`
 * reports exactly that and changes nothing.
 */
export async function moveUsers(
  ctx: Context,
  input: { userIds: readonly string[]; configurationGroupId: string; dryRun?: boolean | null },
): Promise<MoveReport> {
  if (input.userIds.length === 0) throw badInput('input.userIds', 'must name at least one user');
  if (input.userIds.length > 1000) throw badInput('input.userIds', 'at most 1000 users per move');
  return maybeDry(ctx, input.dryRun ?? false, async (trx) => {
    const group = await getGroup(ctx, input.configurationGroupId, 'write', trx);
    const org = await lockOrganization(trx, group.organization_id);
    const catalog = catalogOf(ctx, org);
    const users: UserRow[] = [];
    for (const [i, id] of input.userIds.entries()) {
      const user = isId(id) ? await findUser(trx, id, org.id) : undefined;
      if (!user) throw badInput(`input.userIds[${i}]`, `no user ${id} in this organization`);
      if (user.site_id !== group.site_id)
        throw badInput(`input.userIds[${i}]`, `${user.name} belongs to another site than the configuration group`);
      if (!users.some((u) => u.id === user.id)) users.push(user);
    }
    let released: Released[] = [];
    let deletedSettings: UserSettingRow[] = [];
    const change = await changeConfiguration(ctx, trx, org, catalog, { field: 'input.configurationGroupId' }, async (before) => {
      await setUsersGroup(
        trx,
        org.id,
        users.map((u) => u.id),
        group.id,
      );
      const removed = await syncGroupRows(
        trx,
        org.id,
        users.map((u) => ({ id: u.id, groupId: group.id })),
        new Map([[group.id, group]]),
        before.assignments,
        ctx.clock.now(),
      );
      ({ released, deletedSettings } = await releaseFunctions(trx, org.id, removed));
    });
    await appendEvents(trx, [
      {
        organizationId: org.id,
        type: 'USERS_MOVED',
        at: ctx.clock.now(),
        detail: `${users.length} user(s) to ${group.name}`,
        ...actorOf(ctx.viewer),
      },
    ]);
    return { applied: true, userIds: users.map((u) => u.id), released, deletedSettings, after: change.after };
  });
}

/** Changes a group's functions or options for every member, with the same release and settings rules as moving users. */
export async function updateConfigurationGroup(
  ctx: Context,
  input: { configurationGroupId: string; functions?: readonly string[] | null; options?: readonly string[] | null },
): Promise<MoveReport & { group: ConfigurationGroupRow }> {
  return writeTransaction(ctx.db, async (trx) => {
    const group = await getGroup(ctx, input.configurationGroupId, 'write', trx);
    const org = await lockOrganization(trx, group.organization_id);
    const catalog = catalogOf(ctx, org);
    const config = validateGroupConfig(catalog, input.functions ?? group.functions, input.options ?? group.options);
    const updated = { ...group, ...config };
    let released: Released[] = [];
    let deletedSettings: UserSettingRow[] = [];
    const change = await changeConfiguration(ctx, trx, org, catalog, { field: 'input.functions' }, async (before) => {
      await updateGroupRow(trx, org.id, group.id, config);
      const members = before.users.filter((u) => u.configuration_group_id === group.id).map((u) => ({ id: u.id, groupId: group.id }));
      const removed = await syncGroupRows(trx, org.id, members, new Map([[group.id, updated]]), before.assignments, ctx.clock.now());
      ({ released, deletedSettings } = await releaseFunctions(trx, org.id, removed));
    });
    await appendEvents(trx, [
      {
        organizationId: org.id,
        type: 'CONFIGURATION_GROUP_CHANGED',
        at: ctx.clock.now(),
        detail: `${group.name}: functions ${config.functions.join(', ') || '(none)'}; options ${config.options.join(', ') || '(none)'}`,
        ...actorOf(ctx.viewer),
      },
    ]);
    return { applied: true, userIds: [], released, deletedSettings, after: change.after, group: updated };
  });
}

/** Stores one personal setting of a function the user has configured (what R-NAMED-4 deletes). */
export async function setUserSetting(
  ctx: Context,
  input: { userId: string; product: string; name: string; value: string },
): Promise<UserSettingRow> {
  return withTransaction(ctx.db, async (trx) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    const org = await findOrganization(trx, user.organization_id);
    if (!org) throw new Error('organization vanished');
    const catalog = catalogOf(ctx, org);
    const product = catalog.products.find((p) => p.code === input.product);
    if (!product) throw badInput('input.product', `unknown product "${input.product}" in catalog ${catalog.code}`);
    if (!product.settings.includes(input.name)) {
      throw badInput('input.name', `${product.code} has no setting "${input.name}"; it has ${product.settings.join(', ') || 'none'}`);
    }
    const configured = (await repo.assignmentsOf(trx, org.id)).some((a) => a.user_id === user.id && a.product_code === product.code);
    if (!configured) throw badInput('input.product', `${product.code} is not configured for ${user.name}`);
    if (input.value.length > 4000) throw badInput('input.value', 'must be at most 4000 characters');
    const row: UserSettingRow = {
      organization_id: org.id,
      user_id: user.id,
      product_code: product.code,
      name: input.name,
      value: input.value,
      updated_at: ctx.clock.now(),
    };
    await repo.upsertSetting(trx, row);
    return row;
  });
}
