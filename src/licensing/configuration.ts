/**
 * What a configuration change may not do (R-NAMED-2, R-NAMED-3, R-FIX-1,
 * R-REASSIGN-1): pure over the allocation before and after the change. The
 * one write path (`changeConfiguration`) turns a refusal into a
 * BAD_USER_INPUT error naming the field and the rule.
 *
 * @example
 * const refused = configurationRefusal(before, after, { field: 'input.product' }, (id) => names.get(id) ?? id);
 * if (refused) throw badInput(refused.field, refused.message, refused.rule);
 */
import type { Catalog } from '../catalogs/types.ts';
import type { AllocationResult } from './allocation.ts';
import { allocationOf } from './seats.ts';
import type { EntitlementView } from './entitlements.ts';
import type { LicenseState } from './lifecycle.ts';
import type { SlotSummary } from './reassignment.ts';

export interface ChangeChecks {
  /** The input field a refusal names. */
  field: string;
  /** Refuse when this pair is missing a prerequisite afterwards (direct assignment, R-NAMED-3). */
  direct?: { userId: string; product: string };
  /** Refuse when a product a user held loses a prerequisite (direct unassignment). */
  protectDependents?: boolean;
}

/** A refused change: the input field, what is wrong, and the rule. */
export interface ConfigurationRefusal {
  field: string;
  message: string;
  rule: string;
}

/** The allocation after a change, as the refusal rules look at it. */
export interface AllocationOutcome {
  catalog: Catalog;
  entitlements: readonly EntitlementView[];
  /** The licence grants everything it lists (ACTIVE, RENEWAL_DUE, GRACE). */
  fullUse: boolean;
  result: AllocationResult;
}

/**
 * The refusals of R-NAMED-2 / R-FIX-1 (REFUSE and fixed-seat products never
 * queue), R-NAMED-3 (direct assignment with an unmet prerequisite) and the
 * removal of a licence another held product needs; null when the change may
 * go ahead. `userName` names a user in the messages.
 */
export function configurationRefusal(
  before: Pick<AllocationOutcome, 'result'>,
  after: AllocationOutcome,
  checks: ChangeChecks,
  userName: (userId: string) => string,
): ConfigurationRefusal | null {
  const refuse = (message: string, rule: string): ConfigurationRefusal => ({ field: checks.field, message, rule });
  if (checks.direct) {
    const l = after.result.users.get(checks.direct.userId)?.find((x) => x.product === checks.direct?.product);
    if (l?.status === 'MISSING_PREREQUISITE') {
      return refuse(`${l.product} cannot be assigned to ${userName(checks.direct.userId)}: it needs ${l.missing.join('; ')}`, 'R-NAMED-3');
    }
  }
  for (const [userId, licenses] of after.result.users) {
    const was = new Map((before.result.users.get(userId) ?? []).map((l) => [l.product, l.status]));
    for (const l of licenses) {
      const product = after.catalog.products.find((p) => p.code === l.product);
      if (!product) continue;
      const allocation = allocationOf(product, after.entitlements);
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
        after.fullUse &&
        was.get(l.product) !== 'UNLICENSED'
      ) {
        const stats = after.result.products.get(l.product);
        if (allocation === 'FIXED_SEAT') {
          const holders = [...after.result.users]
            .filter(([, ls]) => ls.some((x) => x.product === l.product && x.status === 'GRANTED'))
            .map(([id]) => userName(id));
          return refuse(
            `${l.product} is a fixed seat bound to ${holders.join(', ') || 'another user'}; nobody else may hold it`,
            'R-FIX-1',
          );
        }
        return refuse(
          `all ${stats?.capacity ?? 0} ${l.product} licences are held; take one from another user before giving it to ${userName(userId)}`,
          'R-NAMED-2',
        );
      }
      if (checks.protectDependents && l.status === 'MISSING_PREREQUISITE' && was.get(l.product) === 'GRANTED') {
        return refuse(`${userName(userId)}'s ${l.product} needs it (${l.missing.join('; ')}); remove ${l.product} first`, 'R-NAMED-3');
      }
    }
  }
  return null;
}

/**
 * R-REASSIGN-1: a newly configured user needs a base licence slot and none is
 * free or reusable (`summary` of the product's slots, `total` licences bought,
 * `days` of cool-down).
 */
export function noSlotRefusal(
  field: string,
  product: string,
  summary: SlotSummary,
  total: number,
  days: number,
  state?: LicenseState,
): ConfigurationRefusal {
  // Before any key (NONE) or before a future key starts (PENDING) there is no licence at all: say so (R-LIFE-5, R-KEY-4).
  if (total === 0 && (state === 'NONE' || state === 'PENDING')) {
    return {
      field,
      message: `no ${product} licence can be assigned: ${state === 'NONE' ? 'no licence key is active' : 'the licence key has not started yet'} (licence state ${state}); activate a key with activateLicenseKey first`,
      rule: state === 'NONE' ? 'R-LIFE-5' : 'R-KEY-4',
    };
  }
  return {
    field,
    message: `no ${product} licence can be assigned: ${summary.held} of ${total} are held and ${summary.bound} are bound by the ${days}-day reassignment cool-down`,
    rule: 'R-REASSIGN-1',
  };
}
