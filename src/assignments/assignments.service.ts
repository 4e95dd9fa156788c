import { actorOf } from '../auth/viewer.ts';
import type { Catalog, Product } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { AssignmentRow, LicenseSlotRow, UserSettingRow } from '../db/schema.ts';
import type { Organization, User, ConfigurationGroup } from '../tenancy/domain.ts';
import { badInput } from '../errors.ts';
import { appendEvents } from '../events/events.repository.ts';
import { configurationRefusal, noSlotRefusal, type ChangeChecks } from '../licensing/configuration.ts';
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
import * as allocationRepo from '../allocation/allocation.repository.ts';
import type { AllocationWrite } from '../allocation/cache.ts';
import { persistAllocation, releaseFunctions, syncGroupRows, type Released } from '../allocation/persist.ts';
import { cooldownProducts, toSlot, type LoadedAllocation } from '../allocation/view.ts';
import * as repo from './assignments.repository.ts';

export { DEMO_POOL } from '../licensing/seats.ts';

async function lockOrganization(trx: Executor, id: string): Promise<Organization> {
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
 * Keeps base licence slots in step with configuration and user status
 * (R-REASSIGN, R-TEN-4): only ACTIVE users hold a base licence. Users no
 * longer configured, or no longer ACTIVE (PREPARING, INACTIVE, deleted),
 * release their slot (its window stays, so R-REASSIGN-2 decides whether it is
 * free, reusable once, or bound); ACTIVE users configured for it take a free
 * slot or spend a reusable one's early reassignment. When none is left the
 * change is refused, naming the user who was to take it.
 */
async function syncSlots(trx: Executor, view: LoadedAllocation, field: string): Promise<void> {
  const assignments = await allocationRepo.assignmentsOf(trx, view.org.id);
  const users = await allocationRepo.usersWithOptions(trx, view.org.id);
  const names = new Map(users.map((u) => [u.id, u.name]));
  const activeIds = users.filter((u) => u.status === 'ACTIVE').map((u) => u.id);
  const totals = new Map(view.entitlements.map((e) => [e.product, e.total]));
  for (const product of cooldownProducts(view.catalog)) {
    const days = product.reassignCooldownDays ?? 0;
    const rows = view.slotRows.filter((s) => s.product_code === product.code).map((r) => ({ ...r }));
    const needers = activeIds.filter((id) => neededProducts(view.catalog, assignments, id).has(product.code)).sort();
    const needing = new Set(needers);
    // Changed slots, written together once the product is done (one statement per 1,000, not one per slot).
    const dirty = new Map<number, LicenseSlotRow>();
    for (const row of rows) {
      if (row.holder_user_id !== null && !needing.has(row.holder_user_id)) {
        row.holder_user_id = null;
        dirty.set(row.slot_no, row);
      }
    }
    const holders = new Set(rows.map((r) => r.holder_user_id));
    for (const userId of needers) {
      if (holders.has(userId)) continue;
      const total = totals.get(product.code) ?? 0;
      const choice = pickSlot(rows.map(toSlot), view.status.effectiveAt, days, total);
      const was = view.usersById.get(userId);
      // A user who already went without a slot while ACTIVE (the key shrank) is not this change's doing.
      if (!choice && was?.status === 'ACTIVE' && neededProducts(view.catalog, view.assignments, userId).has(product.code)) continue;
      if (!choice) {
        const refused = noSlotRefusal(
          field,
          product.code,
          summarizeSlots(rows.map(toSlot), view.status.effectiveAt, days, total),
          total,
          days,
          view.status.state,
          // A user who existed before the change and was not ACTIVE is being made ACTIVE (R-TEN-4).
          was && was.status !== 'ACTIVE' ? `${names.get(userId) ?? userId} cannot become ACTIVE` : undefined,
        );
        throw badInput(refused.field, refused.message, refused.rule);
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
      dirty.set(row.slot_no, existing ?? row);
    }
    await allocationRepo.upsertSlots(trx, [...dirty.values()]);
  }
}

function userName(view: LoadedAllocation, userId: string): string {
  return view.usersById.get(userId)?.name ?? userId;
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
  write: AllocationWrite,
  org: Organization,
  catalog: Catalog,
  checks: ChangeChecks,
  apply: (before: LoadedAllocation) => Promise<void>,
): Promise<ConfigurationChange> {
  const { trx } = write;
  const now = ctx.clock.now();
  const before = await write.load(org, catalog, now);
  await apply(before);
  await syncSlots(trx, before, checks.field);
  // After every write of the change (slot syncs included); the grants persisted below are no input of it.
  const after = await write.loadAfterWrites(org, catalog, now);
  const refused = configurationRefusal(
    before,
    { catalog: after.catalog, entitlements: after.entitlements, fullUse: after.status.fullUse, result: after.result },
    checks,
    (userId) => userName(after, userId),
  );
  if (refused) throw badInput(refused.field, refused.message, refused.rule);
  await persistAllocation(trx, after, actorOf(ctx.viewer));
  return { before, after };
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
export async function assignLicense(ctx: Context, input: { userId: string; product: string }): Promise<User> {
  return ctx.writeTransaction(async (trx, write) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    const org = await lockOrganization(trx, user.organization_id);
    const catalog = catalogOf(ctx, org);
    const product = assignableProduct(catalog, input.product, 'input.product');
    await changeConfiguration(
      ctx,
      write,
      org,
      catalog,
      { field: 'input.product', direct: { userId: user.id, product: product.code } },
      async () => {
        await allocationRepo.insertAssignments(trx, [
          { organization_id: org.id, user_id: user.id, product_code: product.code, source: 'DIRECT', configured_at: ctx.clock.now() },
        ]);
      },
    );
    return user;
  });
}

/** Removes a direct assignment; a function of the user's group stays (move the user or change the group). */
export async function unassignLicense(ctx: Context, input: { userId: string; product: string }): Promise<User> {
  return ctx.writeTransaction(async (trx, write) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    const org = await lockOrganization(trx, user.organization_id);
    const catalog = catalogOf(ctx, org);
    const product = assignableProduct(catalog, input.product, 'input.product');
    const rows = (await allocationRepo.assignmentsOf(trx, org.id)).filter((a) => a.user_id === user.id && a.product_code === product.code);
    if (!rows.some((a) => a.source === 'DIRECT')) {
      throw badInput(
        'input.product',
        rows.length > 0
          ? `${product.code} comes from the user's configuration group; move the user to another group or change the group's functions`
          : `${product.code} is not assigned to this user`,
      );
    }
    await changeConfiguration(ctx, write, org, catalog, { field: 'input.product', protectDependents: true }, async () => {
      await allocationRepo.deleteAssignment(trx, org.id, user.id, product.code, 'DIRECT');
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
async function maybeDry(
  ctx: Context,
  dryRun: boolean,
  work: (trx: Executor, write: AllocationWrite) => Promise<MoveReport>,
): Promise<MoveReport> {
  try {
    return await ctx.writeTransaction(async (trx, write) => {
      const report = await work(trx, write);
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
  return maybeDry(ctx, input.dryRun ?? false, async (trx, write) => {
    const group = await getGroup(ctx, input.configurationGroupId, 'write', trx);
    const org = await lockOrganization(trx, group.organization_id);
    const catalog = catalogOf(ctx, org);
    const users: User[] = [];
    for (const [i, id] of input.userIds.entries()) {
      const user = isId(id) ? await findUser(trx, id, org.id) : undefined;
      if (!user) throw badInput(`input.userIds[${i}]`, `no user ${id} in this organization`);
      if (user.site_id !== group.site_id)
        throw badInput(`input.userIds[${i}]`, `${user.name} belongs to another site than the configuration group`);
      if (!users.some((u) => u.id === user.id)) users.push(user);
    }
    let released: Released[] = [];
    let deletedSettings: UserSettingRow[] = [];
    const change = await changeConfiguration(ctx, write, org, catalog, { field: 'input.configurationGroupId' }, async (before) => {
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
): Promise<MoveReport & { group: ConfigurationGroup }> {
  return ctx.writeTransaction(async (trx, write) => {
    const group = await getGroup(ctx, input.configurationGroupId, 'write', trx);
    const org = await lockOrganization(trx, group.organization_id);
    const catalog = catalogOf(ctx, org);
    const config = validateGroupConfig(catalog, input.functions ?? group.functions, input.options ?? group.options);
    const updated = { ...group, ...config };
    let released: Released[] = [];
    let deletedSettings: UserSettingRow[] = [];
    const change = await changeConfiguration(ctx, write, org, catalog, { field: 'input.functions' }, async (before) => {
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
    if (!product.settings.some((s) => s.name === input.name)) {
      const names = product.settings.map((s) => s.name).join(', ') || 'none';
      throw badInput(
        'input.name',
        `${product.code} has no setting "${input.name}"; it has ${names} (catalog: Product.settings)`,
        'R-CAT-3',
      );
    }
    const configured = (await allocationRepo.assignmentsOf(trx, org.id)).some(
      (a) => a.user_id === user.id && a.product_code === product.code,
    );
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
