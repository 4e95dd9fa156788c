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
    // A licence a user was not competing for (not configured, or the user was not ACTIVE: R-TEN-4) counts as new.
    const was = new Map(
      (before.result.users.get(userId) ?? []).filter((l) => l.decision.outcome !== 'INACTIVE').map((l) => [l.product, l.status]),
    );
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
        // The user this change gives the licence to: one who holds it now and did not before (a user made ACTIVE who
        // ranks first displaces the holder), else the one left without it.
        const taker = [...after.result.users].find(
          ([id, ls]) =>
            id !== userId &&
            ls.some((x) => x.product === l.product && x.status === 'GRANTED') &&
            !(before.result.users.get(id) ?? []).some((x) => x.product === l.product && x.status === 'GRANTED'),
        )?.[0];
        return refuse(
          `all ${stats?.capacity ?? 0} ${l.product} licences are held; take one from another user before giving it to ${userName(taker ?? userId)}`,
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
 * R-REASSIGN-1: a user who is to hold a base licence (newly configured, or
 * made ACTIVE: R-TEN-4) finds none free or reusable (`summary` of the
 * product's slots, `total` licences bought, `days` of cool-down). `subject`
 * opens the message when it names the user ("Ada cannot become ACTIVE").
 *
 * @example
 * noSlotRefusal('input.status', 'BASE', summary, 1, 90, 'ACTIVE', 'Ada cannot become ACTIVE').message;
 * // 'Ada cannot become ACTIVE: no BASE licence can be assigned: 1 of 1 are held and 0 are bound by the 90-day reassignment cool-down'
 */
export function noSlotRefusal(
  field: string,
  product: string,
  summary: SlotSummary,
  total: number,
  days: number,
  state?: LicenseState,
  subject?: string,
): ConfigurationRefusal {
  const opening = subject ? `${subject}: ` : '';
  // Before any key (NONE), before a future key starts (PENDING) or after the last one lapsed (DEMO) there is no licence at all:
  // say so (R-LIFE-5, R-KEY-4).
  if (total === 0 && (state === 'NONE' || state === 'PENDING' || state === 'DEMO')) {
    const cause =
      state === 'NONE'
        ? 'no licence key is active'
        : state === 'PENDING'
          ? 'the licence key has not started yet'
          : 'the licence and its grace period have ended';
    return {
      field,
      message: `${opening}no ${product} licence can be assigned: ${cause} (licence state ${state}); activate a key with activateLicenseKey first`,
      rule: state === 'PENDING' ? 'R-KEY-4' : 'R-LIFE-5',
    };
  }
  return {
    field,
    message: `${opening}no ${product} licence can be assigned: ${summary.held} of ${total} are held and ${summary.bound} are bound by the ${days}-day reassignment cool-down`,
    rule: 'R-REASSIGN-1',
  };
}
