import { actorOf } from '../auth/viewer.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { Context } from '../context.ts';
import type { Db } from '../db/database.ts';
import type { LicenseKeyRow, OrganizationRow } from '../db/schema.ts';
import { invalidLicenseKey } from '../errors.ts';
import { appendEvents, type EventInput } from '../events/events.repository.ts';
import { verifyKey } from '../keys/codec.ts';
import { checkAgainstCatalog } from '../keys/order.ts';
import { KeyFormatError } from '../keys/payload.ts';
import { entitlementsOf } from '../licensing/entitlements.ts';
import { keyTerm, nextTransitionAt, type ActivatedKey, type LicenseStatusResult } from '../licensing/lifecycle.ts';
import { statusFrom, toActivatedKey } from './status.ts';
import { loadAllocationAfterWrites, writeTransaction } from '../assignments/allocation-cache.ts';
import { persistAllocation } from '../assignments/assignments.service.ts';
import { catalogOf, getOrganization } from '../tenancy/access.ts';
import * as tenancyRepo from '../tenancy/tenancy.repository.ts';
import * as repo from './license.repository.ts';

/** The organization's licence status now, batched per request. */
export async function licenseStatusOf(ctx: Context, org: OrganizationRow): Promise<LicenseStatusResult> {
  return statusFrom(org, await ctx.loaders.licenseKeys.load(org.id), ctx.clock.now());
}

function stateChangedEvent(
  organizationId: string,
  before: { state: string; keyId: string | null },
  after: LicenseStatusResult,
  at: Date,
  actor: Pick<EventInput, 'actor' | 'apiTokenId'>,
): EventInput {
  const key = after.keyId === before.keyId ? '' : `; key ${before.keyId ?? '(none)'} -> ${after.keyId ?? '(none)'}`;
  return { organizationId, type: 'STATE_CHANGED', at, detail: `${before.state} -> ${after.state}${key}`, ...actor };
}

function toActivatedKeyOf(keys: readonly LicenseKeyRow[], keyId: string | null): ActivatedKey | null {
  const row = keyId === null ? undefined : keys.find((k) => k.key_id === keyId);
  return row === undefined ? null : toActivatedKey(row);
}

/**
 * Activates a licence key (R-KEY-3, R-KEY-4). Every check runs before
 * anything is written, and a refusal names the check that failed; the whole
 * activation is one transaction, so a refused key changes nothing.
 */
export async function activateLicenseKey(ctx: Context, input: { organizationId: string; key: string }): Promise<OrganizationRow> {
  try {
    return await activateInTransaction(ctx, input);
  } catch (error) {
    // Another organization won a race for the key or the customer reference (unique indexes, migration 0008).
    const taken = uniqueViolationOf(error);
    if (taken === 'KEY_ID')
      throw invalidLicenseKey(
        'CUSTOMER_MISMATCH',
        'this key was already activated by another organization; a key activates on one organization only',
      );
    if (taken === 'CUSTOMER_REF')
      throw invalidLicenseKey('CUSTOMER_MISMATCH', "the key's customer reference is held by another organization");
    throw error;
  }
}

/** Which of the licence uniqueness rules a database error broke, if any. */
function uniqueViolationOf(error: unknown): 'KEY_ID' | 'CUSTOMER_REF' | null {
  if (typeof error !== 'object' || error === null || !('code' in error) || error.code !== '23505') return null;
  const constraint = 'constraint' in error ? String(error.constraint) : '';
  const text = `${constraint} ${error instanceof Error ? error.message : ''}`;
  if (text.includes(repo.KEY_ID_UNIQUE)) return 'KEY_ID';
  if (text.includes(repo.CUSTOMER_REF_UNIQUE)) return 'CUSTOMER_REF';
  return null;
}

/** The largest value a seat pool's `integer` column and a GraphQL Int hold. */
const INT32_MAX = 2_147_483_647;

async function activateInTransaction(ctx: Context, input: { organizationId: string; key: string }): Promise<OrganizationRow> {
  // Once committed, the allocation computed below is what reads see (no re-read of every user).
  return writeTransaction(ctx.db, async (trx) => {
    await getOrganization(ctx, input.organizationId, 'write', trx);
    // The lock orders concurrent activations for one organization.
    const org = await tenancyRepo.lockOrganization(trx, input.organizationId);
    if (!org) throw new Error('organization vanished under lock');
    const catalog = catalogOf(ctx, org);
    const now = ctx.clock.now();

    const verified = verifyKey(input.key, ctx.trustedKeys);
    if (!verified.ok) {
      const hint =
        verified.reason === 'UNKNOWN_SIGNER' && ctx.trustedKeys.length === 0
          ? ' (no public keys are configured: set LICENSE_PUBLIC_KEYS)'
          : '';
      throw invalidLicenseKey(verified.reason, `${verified.message}${hint}`);
    }
    const payload = verified.payload;
    if (payload.catalog !== org.catalog_code) {
      throw invalidLicenseKey('CATALOG_MISMATCH', `the key is for catalog ${payload.catalog}, this organization uses ${org.catalog_code}`);
    }
    if (org.customer_ref !== null && payload.customerRef !== org.customer_ref) {
      throw invalidLicenseKey(
        'CUSTOMER_MISMATCH',
        `the key is for customer ${payload.customerRef}, not for this organization's customer reference ${org.customer_ref}`,
      );
    }
    try {
      checkAgainstCatalog(payload, catalog);
    } catch (error) {
      if (error instanceof KeyFormatError) throw invalidLicenseKey('CATALOG_PRODUCTS', error.message);
      throw error;
    }
    // Bundles multiply and units scale what a key lists: every derived figure must fit the integer columns too.
    for (const view of entitlementsOf(catalog, payload.entitlements)) {
      const largest = Math.max(view.total, view.unitsTotal, view.total + view.emergencyQuantity);
      if (largest > INT32_MAX)
        throw invalidLicenseKey(
          'CATALOG_PRODUCTS',
          `${view.product}: the key entitles ${largest} licences or units in catalog ${payload.catalog}; at most ${INT32_MAX}`,
        );
    }
    const keys = await repo.keysOfOrganizations(trx, [org.id]);
    const before = statusFrom(org, keys, now);
    const existing = keys.find((k) => k.key_id === payload.keyId);
    if (existing) {
      // Pasting the governing key again is harmless; re-activating an older one would roll entitlements back.
      if (existing.seq === keys.at(-1)?.seq) return org;
      throw invalidLicenseKey('SUPERSEDED', `key ${payload.keyId} was activated before and has since been replaced by a newer key`);
    }
    // A key activates once in the whole gateway; a customer reference belongs to one organization (R-KEY-3).
    if (await repo.keyIdActivatedElsewhere(trx, payload.keyId, org.id)) {
      throw invalidLicenseKey(
        'CUSTOMER_MISMATCH',
        `key ${payload.keyId} was already activated by another organization; a key activates on one organization only`,
      );
    }
    if (org.customer_ref === null && (await repo.customerRefHeldElsewhere(trx, payload.customerRef, org.id))) {
      throw invalidLicenseKey(
        'CUSTOMER_MISMATCH',
        `the key is for customer reference ${payload.customerRef}, which is held by another organization`,
      );
    }
    // Latest-activated wins (R-KEY-4), so a key issued before the one that governs would roll it back.
    const governing = [toActivatedKeyOf(keys, before.keyId), before.pendingKey].filter((k) => k !== null);
    const newest = governing.reduce<ActivatedKey | null>((a, k) => (a === null || k.payload.issuedAt > a.payload.issuedAt ? k : a), null);
    if (newest !== null && payload.issuedAt < newest.payload.issuedAt) {
      throw invalidLicenseKey(
        'SUPERSEDED',
        `key ${payload.keyId} was issued at ${payload.issuedAt}, before the governing key ${newest.payload.keyId} (issued ${newest.payload.issuedAt}); only a key issued later can replace it`,
      );
    }
    const term = keyTerm(payload);
    if (term.graceUntil.getTime() <= before.effectiveAt.getTime()) {
      throw invalidLicenseKey(
        'EXPIRED',
        `the key's term ended at ${term.validUntil.toISOString()} and its grace period at ${term.graceUntil.toISOString()}`,
      );
    }

    const actor = actorOf(ctx.viewer);
    await repo.insertKey(trx, {
      organization_id: org.id,
      key_id: payload.keyId,
      kid: verified.kid,
      payload,
      raw: input.key.replace(/\s+/g, ''),
      activated_at: now,
      activated_by: actor.actor,
    });
    if (org.customer_ref === null) await repo.bindCustomerRef(trx, org.id, payload.customerRef);
    await repo.observeClock(trx, org.id, now, ctx.clock.databaseBoundMs);

    const after = statusFrom(org, await repo.keysOfOrganizations(trx, [org.id]), now);
    const events: EventInput[] = [
      {
        organizationId: org.id,
        type: 'KEY_ACTIVATED',
        at: now,
        detail: `key ${payload.keyId} (${payload.catalog}, customer ${payload.customerRef}) valid ${term.validFrom.toISOString()} to ${term.validUntil.toISOString()}`,
        ...actor,
      },
    ];
    const recorded = { state: org.license_state, keyId: org.license_key_id };
    if (recorded.state !== after.state || recorded.keyId !== after.keyId)
      events.push(stateChangedEvent(org.id, recorded, after, now, actor));
    await repo.recordLicenseState(trx, org.id, { state: after.state, keyId: after.keyId, checkAt: nextTransitionAt(after) });
    await appendEvents(trx, events);
    // New entitlements: who holds what and how large the seat pools are changes at once (R-KEY-4).
    const updated = { ...org, customer_ref: org.customer_ref ?? payload.customerRef };
    await persistAllocation(trx, await loadAllocationAfterWrites(trx, updated, catalog, now), actor);
    return updated;
  });
}

export interface SweepOptions {
  /** Organizations looked at per sweep (the most overdue first). */
  batch?: number;
  /**
   * Told of each organization whose state could not be recorded (its
   * transaction rolled back; the others are swept all the same). The app
   * logs it and counts it in `gateway_sweep_failures_total{sweep="license"}`.
   */
  onFailure?: (organizationId: string, error: unknown) => void;
}

/**
 * Records licence states that changed by the passage of time, with a
 * STATE_CHANGED event each (R-LIFE). Each due organization is one
 * transaction of its own, so one organization's bad data (a stored key an
 * older gateway accepted) fails only that organization: it is reported to
 * `onFailure` and stays due, and the others change state. Safe to run on
 * every instance at once: an organization is locked with SKIP LOCKED, and
 * one another instance holds is left to it. Returns how many changed.
 */
export async function sweepLicenseStates(
  db: Db,
  clock: Clock,
  catalogs: ReadonlyMap<string, Catalog>,
  options: SweepOptions = {},
): Promise<number> {
  const now = clock.now();
  await repo.observeClock(db, null, now, clock.databaseBoundMs);
  let changed = 0;
  const failures: unknown[] = [];
  for (const id of await repo.dueStateChecks(db, now, options.batch ?? 100)) {
    try {
      if (await sweepOne(db, id, now, catalogs)) changed += 1;
    } catch (error) {
      if (options.onFailure) options.onFailure(id, error);
      else failures.push(error);
    }
  }
  // Without a callback the caller still learns of failures, after every other organization was swept.
  if (failures.length > 0) throw failures[0];
  return changed;
}

/** One organization's sweep in its own transaction; true when its recorded state changed. */
function sweepOne(db: Db, id: string, now: Date, catalogs: ReadonlyMap<string, Catalog>): Promise<boolean> {
  return writeTransaction(db, async (trx) => {
    // Still due and not being swept by another instance.
    const org = await repo.lockDueStateCheck(trx, id, now);
    if (!org) return false;
    const status = statusFrom(org, await repo.keysOfOrganizations(trx, [id]), now);
    // Before the allocation: it is loaded after the organization row's last change, so the cache can take it.
    await repo.recordLicenseState(trx, id, { state: status.state, keyId: status.keyId, checkAt: nextTransitionAt(status) });
    if (status.state === org.license_state && status.keyId === org.license_key_id) return false;
    const system = { actor: 'system', apiTokenId: null };
    await appendEvents(trx, [stateChangedEvent(id, { state: org.license_state, keyId: org.license_key_id }, status, now, system)]);
    const catalog = catalogs.get(org.catalog_code);
    // Entering or leaving full use grants or withdraws named licences (R-LIFE-5).
    if (catalog) await persistAllocation(trx, await loadAllocationAfterWrites(trx, org, catalog, now), system);
    return true;
  });
}
