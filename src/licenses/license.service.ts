import { actorOf } from '../auth/viewer.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { Context } from '../context.ts';
import type { Db } from '../db/database.ts';
import type { OrganizationRow } from '../db/schema.ts';
import { invalidLicenseKey } from '../errors.ts';
import { appendEvents, type EventInput } from '../events/events.repository.ts';
import { verifyKey } from '../keys/codec.ts';
import { checkAgainstCatalog } from '../keys/order.ts';
import { KeyFormatError } from '../keys/payload.ts';
import { entitlementsOf, organizationPrerequisiteGaps } from '../licensing/entitlements.ts';
import { keyTerm, nextTransitionAt, type LicenseStatusResult } from '../licensing/lifecycle.ts';
import { statusFrom } from './status.ts';
import { loadAllocationAfterWrites, writeTransaction } from '../assignments/allocation-cache.ts';
import { persistAllocation } from '../assignments/assignments.service.ts';
import { catalogOf, getOrganization } from '../tenancy/access.ts';
import * as tenancyRepo from '../tenancy/tenancy.repository.ts';
import * as repo from './license.repository.ts';


/** The organization's licence status now, batched per request. */
export async function licenseStatusOf(ctx: Context, org: OrganizationRow): Promise<LicenseStatusResult> {
  return statusFrom(org, await ctx.loaders.licenseKeys.load(org.id), ctx.clock.now());
}

export interface OrganizationWarning {
  code: string;
  message: string;
  product: string | null;
}

/** Licence-state and organization-scope prerequisite warnings (R-LIFE-2/4/5/6, R-NAMED-3). */
export function organizationWarnings(catalog: Catalog, status: LicenseStatusResult): OrganizationWarning[] {
  const warnings: OrganizationWarning[] = status.warnings.map((w) => ({ code: w.code, message: w.message, product: null }));
  for (const gap of organizationPrerequisiteGaps(catalog, entitlementsOf(catalog, status.entitlements))) {
    warnings.push({ code: 'MISSING_PREREQUISITE', message: gap.message, product: gap.product });
  }
  return warnings;
}

function stateChangedEvent(organizationId: string, before: { state: string; keyId: string | null }, after: LicenseStatusResult, at: Date, actor: Pick<EventInput, 'actor' | 'apiTokenId'>): EventInput {
  const key = after.keyId === before.keyId ? '' : `; key ${before.keyId ?? '(none)'} -> ${after.keyId ?? '(none)'}`;
  return { organizationId, type: 'STATE_CHANGED', at, detail: `${before.state} -> ${after.state}${key}`, ...actor };
}

/**
 * Activates a licence key (R-KEY-3, R-KEY-4). Every check runs before
 * anything is written, and a refusal names the check that failed; the whole
 * activation is one transaction, so a refused key changes nothing.
 */
export async function activateLicenseKey(ctx: Context, input: { organizationId: string; key: string }): Promise<OrganizationRow> {
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
      const hint = verified.reason === 'UNKNOWN_SIGNER' && ctx.trustedKeys.length === 0 ? ' (no public keys are configured: set LICENSE_PUBLIC_KEYS)' : '';
      throw invalidLicenseKey(verified.reason, `${verified.message}${hint}`);
    }
    const payload = verified.payload;
    if (payload.catalog !== org.catalog_code) {
      throw invalidLicenseKey('CATALOG_MISMATCH', `the key is for catalog ${payload.catalog}, this organization uses ${org.catalog_code}`);
    }
    if (org.customer_ref !== null && payload.customerRef !== org.customer_ref) {
      throw invalidLicenseKey('CUSTOMER_MISMATCH', `the key is for customer ${payload.customerRef}, not for this organization's customer reference ${org.customer_ref}`);
    }
    try {
      checkAgainstCatalog(payload, catalog);
    } catch (error) {
      if (error instanceof KeyFormatError) throw invalidLicenseKey('CATALOG_PRODUCTS', error.message);
      throw error;
    }
    const keys = await repo.keysOfOrganizations(trx, [org.id]);
    const before = statusFrom(org, keys, now);
    const existing = keys.find((k) => k.key_id === payload.keyId);
    if (existing) {
      // Pasting the governing key again is harmless; re-activating an older one would roll entitlements back.
      if (existing.seq === keys.at(-1)?.seq) return org;
      throw invalidLicenseKey('SUPERSEDED', `key ${payload.keyId} was activated before and has since been replaced by a newer key`);
    }
    const term = keyTerm(payload);
    if (term.graceUntil.getTime() <= before.effectiveAt.getTime()) {
      throw invalidLicenseKey('EXPIRED', `the key's term ended at ${term.validUntil.toISOString()} and its grace period at ${term.graceUntil.toISOString()}`);
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
    if (recorded.state !== after.state || recorded.keyId !== after.keyId) events.push(stateChangedEvent(org.id, recorded, after, now, actor));
    await repo.recordLicenseState(trx, org.id, { state: after.state, keyId: after.keyId, checkAt: nextTransitionAt(after) });
    await appendEvents(trx, events);
    // New entitlements: who holds what and how large the seat pools are changes at once (R-KEY-4).
    const updated = { ...org, customer_ref: org.customer_ref ?? payload.customerRef };
    await persistAllocation(trx, await loadAllocationAfterWrites(trx, updated, catalog, now), actor);
    return updated;
  });
}

/**
 * Records licence states that changed by the passage of time, with a
 * STATE_CHANGED event each (R-LIFE). Safe to run on every instance at once:
 * due organizations are locked with SKIP LOCKED. Returns how many changed.
 */
export async function sweepLicenseStates(db: Db, clock: Clock, catalogs: ReadonlyMap<string, Catalog>, batch = 100): Promise<number> {
  const now = clock.now();
  await repo.observeClock(db, null, now, clock.databaseBoundMs);
  return writeTransaction(db, async (trx) => {
    const due = await repo.lockDueStateChecks(trx, now, batch);
    let changed = 0;
    for (const id of due) {
      const org = await tenancyRepo.findOrganization(trx, id);
      if (!org) continue;
      const status = statusFrom(org, await repo.keysOfOrganizations(trx, [id]), now);
      // Before the allocation: it is loaded after the organization row's last change, so the cache can take it.
      await repo.recordLicenseState(trx, id, { state: status.state, keyId: status.keyId, checkAt: nextTransitionAt(status) });
      if (status.state !== org.license_state || status.keyId !== org.license_key_id) {
        const system = { actor: 'system', apiTokenId: null };
        await appendEvents(trx, [stateChangedEvent(id, { state: org.license_state, keyId: org.license_key_id }, status, now, system)]);
        const catalog = catalogs.get(org.catalog_code);
        // Entering or leaving full use grants or withdraws named licences (R-LIFE-5).
        if (catalog) await persistAllocation(trx, await loadAllocationAfterWrites(trx, org, catalog, now), system);
        changed += 1;
      }
    }
    return changed;
  });
}

