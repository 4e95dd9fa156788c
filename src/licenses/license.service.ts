import { actorOf } from '../auth/viewer.ts';
import type { Organization } from '../tenancy/domain.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { Context } from '../context.ts';
import type { Db } from '../db/database.ts';
import { invalidLicenseKey } from '../errors.ts';
import { appendEvents, type EventInput } from '../events/events.repository.ts';
import { verifyKey } from '../keys/codec.ts';
import { checkAgainstCatalog } from '../keys/order.ts';
import { KeyFormatError } from '../keys/payload.ts';
import { keyFitsKeys, keyFitsOrganization } from '../licensing/key-acceptance.ts';
import { keyTerm, nextTransitionAt, type LicenseStatusResult } from '../licensing/lifecycle.ts';
import { writeTransaction, type AllocationCache } from '../allocation/cache.ts';
import { statusFrom, type ParsedKeys } from '../allocation/keys.ts';
import { persistAllocation } from '../allocation/persist.ts';
import { catalogOf, lockOrganizationFor } from '../tenancy/access.ts';
import * as repo from './license.repository.ts';

/** The organization's licence status now, batched per request. */
export async function licenseStatusOf(ctx: Context, org: Organization): Promise<LicenseStatusResult> {
  return statusFrom(org, await ctx.loaders.licenseKeys.load(org.id), ctx.clock.now(), ctx.caches.parsedKeys);
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

/** What an activation leaves: the organization row and its licence status as the activation committed them. */
export interface Activation {
  organization: Organization;
  status: LicenseStatusResult;
}

/**
 * Activates a licence key (R-KEY-3, R-KEY-4). Every check runs before
 * anything is written, and a refusal names the check that failed; the whole
 * activation is one transaction, so a refused key changes nothing. It reads
 * the organization once (under its lock) and its keys once, and computes the
 * licence status once: for the keys it ends with.
 */
export async function activateLicenseKey(ctx: Context, input: { organizationId: string; key: string }): Promise<Activation> {
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

async function activateInTransaction(ctx: Context, input: { organizationId: string; key: string }): Promise<Activation> {
  // Once committed, the allocation computed below is what reads see (no re-read of every user).
  return ctx.writeTransaction(async (trx, write) => {
    // The lock orders concurrent activations for one organization.
    const org = await lockOrganizationFor(ctx, trx, input.organizationId, 'write');
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
    const holder = { catalogCode: org.catalog_code, customerRef: org.customer_ref, clockHighWater: org.clock_high_water };
    const unfit = keyFitsOrganization({ payload, catalog, org: holder, catalogProductsProblem: catalogProductsProblem(payload, catalog) });
    if (unfit) throw invalidLicenseKey(unfit.check, unfit.message);
    const keys = await repo.keysOfOrganizations(trx, [org.id]);
    const elsewhere = {
      keyId: await repo.keyIdActivatedElsewhere(trx, payload.keyId, org.id),
      customerRef: org.customer_ref === null && (await repo.customerRefHeldElsewhere(trx, payload.customerRef, org.id)),
    };
    const decision = keyFitsKeys({ payload, org: holder, keys: keys.map((k) => ctx.caches.parsedKeys.get(k)), now, elsewhere });
    if (decision.kind === 'REFUSE') throw invalidLicenseKey(decision.check, decision.message);
    if (decision.kind === 'ALREADY_GOVERNING') return { organization: org, status: statusFrom(org, keys, now, ctx.caches.parsedKeys) };

    const actor = actorOf(ctx.viewer);
    const inserted = await repo.insertKey(trx, {
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

    // The keys as the transaction now has them: those read under the lock and the one inserted.
    const keysAfter = [...keys, inserted];
    const after = statusFrom(org, keysAfter, now, ctx.caches.parsedKeys);
    const term = keyTerm(payload);
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
    await persistAllocation(trx, await write.loadAfterWrites(updated, catalog, now, { keys: keysAfter, status: after }), actor);
    return { organization: updated, status: after };
  });
}

/** What the key's entitlements break of the catalog (unknown product, allocation, emergency seats), or null. */
function catalogProductsProblem(payload: Parameters<typeof checkAgainstCatalog>[0], catalog: Catalog): string | null {
  try {
    checkAgainstCatalog(payload, catalog);
    return null;
  } catch (error) {
    if (error instanceof KeyFormatError) return error.message;
    throw error;
  }
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
  /** The app's allocation cache: each changed organization's allocation goes into it at commit (none: nothing is published). */
  allocations?: AllocationCache;
  /** The app's parsed-key cache (default: the allocation cache's, or none). */
  parsedKeys?: ParsedKeys;
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
      if (await sweepOne(db, id, now, catalogs, options)) changed += 1;
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
function sweepOne(db: Db, id: string, now: Date, catalogs: ReadonlyMap<string, Catalog>, options: SweepOptions): Promise<boolean> {
  const parsedKeys = options.parsedKeys ?? options.allocations?.parsedKeys;
  return writeTransaction(db, options.allocations ?? null, async (trx, write) => {
    // Still due and not being swept by another instance.
    const org = await repo.lockDueStateCheck(trx, id, now);
    if (!org) return false;
    const status = statusFrom(org, await repo.keysOfOrganizations(trx, [id]), now, parsedKeys);
    // Before the allocation: it is loaded after the organization row's last change, so the cache can take it.
    await repo.recordLicenseState(trx, id, { state: status.state, keyId: status.keyId, checkAt: nextTransitionAt(status) });
    if (status.state === org.license_state && status.keyId === org.license_key_id) return false;
    const system = { actor: 'system', apiTokenId: null };
    await appendEvents(trx, [stateChangedEvent(id, { state: org.license_state, keyId: org.license_key_id }, status, now, system)]);
    const catalog = catalogs.get(org.catalog_code);
    // Entering or leaving full use grants or withdraws named licences (R-LIFE-5).
    if (catalog) await persistAllocation(trx, await write.loadAfterWrites(org, catalog, now), system);
    return true;
  });
}
