/**
 * Why a user does or does not hold a product (`User.explain`), step by step,
 * in words and as coded steps (R-EXPLAIN-1, explain-steps.ts). Pure: the caller passes the licence state, the organization's
 * entitlement to the product and the user's licence of it, if any.
 *
 * @example
 * explainLicense({ state: 'ACTIVE', product: 'OFFICE', entitlement, license });
 * // { granted: true, steps: ['Licence state ACTIVE: The licence is active.', 'The organization is entitled to 3 OFFICE (NAMED).', …] }
 */
import { licenseStepDetails, type UserLicense } from './allocation.ts';
import type { EntitlementView } from './entitlements.ts';
import { step, type ExplainStep } from './explain-steps.ts';
import type { LicenseState } from './lifecycle.ts';
import { admitSeat, type Member, type PoolLimits, type SeatBound, seatsOfUnit, type UnitSeats } from './reservations.ts';

const LICENSE_STATE_STEP: Record<LicenseState, string> = {
  NONE: 'No licence key has been activated: demo mode, named licences are not granted.',
  PENDING: 'The licence key has not started yet: demo mode until then.',
  ACTIVE: 'The licence is active.',
  RENEWAL_DUE: 'The licence is active; its renewal is due.',
  GRACE: 'The licence term has ended; everything keeps working during the grace period.',
  DEMO: 'The licence and its grace period have ended: demo mode, named licences are not granted.',
};

export interface ExplainInput {
  state: LicenseState;
  /** The product's code. */
  product: string;
  /** The organization's entitlement to the product; undefined when it has none. */
  entitlement: Pick<EntitlementView, 'total' | 'allocation'> | undefined;
  /** The user's licence of the product; undefined when it is not configured for the user. */
  license: UserLicense | undefined;
  /**
   * R-RES: the bounds of the product's concurrent pool, its seats by unit and
   * the user's site and group; undefined or no bounds: the pool is unbounded
   * and the explanation says nothing of bounds.
   */
  seatBounds?: SeatBoundsInput | undefined;
}

/** What explain needs to name the reservations and caps that bind a user's next session (R-RES-3, R-RES-5). */
export interface SeatBoundsInput {
  pool: PoolLimits;
  /** The bounds of the product, sites before their groups. */
  bounds: readonly SeatBound[];
  seats: readonly UnitSeats[];
  member: Member;
}

export interface Explanation {
  granted: boolean;
  /** The steps in words: `details[i].text`. */
  steps: string[];
  /** The same steps with their stable codes and figures (R-EXPLAIN-1). */
  details: ExplainStep[];
}

export function explainLicense(input: ExplainInput): Explanation {
  const { product, entitlement, license } = input;
  const details = [
    step('LICENSE_STATE', `Licence state ${input.state}: ${LICENSE_STATE_STEP[input.state]}`, { state: input.state }),
    entitlement
      ? step('ENTITLED', `The organization is entitled to ${entitlement.total} ${product} (${entitlement.allocation}).`, {
          product,
          total: entitlement.total,
          allocation: entitlement.allocation,
        })
      : step('NOT_ENTITLED', `The organization has no ${product} licences.`, { product }),
  ];
  if (!license)
    details.push(
      step(
        'NOT_CONFIGURED',
        `${product} is not configured for the user (no group function, no direct assignment, not included in a held product).`,
        { product },
      ),
    );
  else details.push(...licenseStepDetails(license));
  if (license?.decision.outcome === 'CONCURRENT_ELIGIBLE' && input.seatBounds) details.push(...boundSteps(product, input.seatBounds));
  // A licence held but whose holder lacks a recorded fact (security key, R-2FA-2): licenses shows it MISSING_PREREQUISITE.
  if (license?.status === 'MISSING_PREREQUISITE' && license.decision.outcome !== 'MISSING_PREREQUISITE') {
    details.push(
      step('HOLDER_PREREQUISITES_MISSING', `Prerequisites of the holder not met: ${license.missing.join('; ')}; not granted until then.`, {
        missing: license.missing.join('; '),
      }),
    );
  }
  return { granted: license?.status === 'GRANTED', steps: details.map((d) => d.text), details };
}

const appliesTo = (b: SeatBound, m: Member) => (b.groupId === null ? b.siteId === m.siteId : b.groupId === m.groupId);

/**
 * R-RES-3, R-RES-5: the user's site's and group's reservations and caps of
 * the pool, with the seats their members hold, and whether a new session of
 * the user would be refused by one (the same rule as the start, admitSeat).
 * Nothing when the pool has no bound.
 */
export function boundSteps(product: string, input: SeatBoundsInput): ExplainStep[] {
  const steps: ExplainStep[] = [];
  const own = input.bounds
    .filter((b) => appliesTo(b, input.member))
    .sort((x, y) => Number(x.groupId !== null) - Number(y.groupId !== null));
  for (const b of own) {
    const inUse = seatsOfUnit(b, input.seats);
    if (b.reserved > 0)
      steps.push(
        step('SEAT_RESERVATION', `${b.label} reserves ${b.reserved} ${product} seat(s) for its members (${inUse} in use).`, {
          unit: b.label,
          product,
          reserved: b.reserved,
          inUse,
        }),
      );
    if (b.cap === null) continue;
    const figures = { unit: b.label, product, cap: b.cap, inUse };
    steps.push(
      inUse >= b.cap
        ? step(
            'SEAT_CAP_REACHED',
            `${b.label} holds its cap of ${b.cap} ${product} seat(s) (${inUse} in use): a new session of the user is refused (CAP_REACHED).`,
            figures,
          )
        : step('SEAT_CAP', `${b.label} caps its members at ${b.cap} ${product} seat(s) at once (${inUse} in use).`, figures),
    );
  }
  const refusal = input.bounds.length === 0 ? null : admitSeat(product, input.pool, input.bounds, input.seats, input.member);
  if (refusal?.code === 'SEATS_RESERVED')
    steps.push(
      step('SEATS_RESERVED_FOR_OTHERS', `A new session of the user is refused (SEATS_RESERVED): ${refusal.message}.`, {
        product,
        reason: refusal.message,
      }),
    );
  return steps;
}
