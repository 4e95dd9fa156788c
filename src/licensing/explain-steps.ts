/**
 * The steps of `User.explain` as data (R-EXPLAIN-1): a stable code per kind
 * of step, the sentence the API has always returned, and the figures the
 * sentence is made of, so that a front end can render and translate a step
 * from its code and parameters instead of parsing the English text. Codes
 * are never renamed or reused; a new kind of step gets a new code.
 *
 * @example
 * step('RANK_GRANTED', 'Rank 1 of 3 …: granted.', { rank: 1, competing: 3, available: 2 });
 * // { code: 'RANK_GRANTED', text: 'Rank 1 of 3 …: granted.', parameters: [{ name: 'rank', value: '1' }, …] }
 */

/** Every step code with what it says: the values of the GraphQL enum `ExplanationStepCode`. */
export const EXPLAIN_STEP_CODES = {
  LICENSE_STATE: { description: "The organization's licence state (parameter state)." },
  ENTITLED: { description: 'The organization is entitled to the product (product, total, allocation).' },
  NOT_ENTITLED: { description: 'The organization has no licences of the product (product).' },
  NOT_CONFIGURED: {
    description: 'The product is not configured for the user: no group function, no direct assignment, no held bundle (product).',
  },
  BUNDLE_FEATURE: { description: 'Not configured, but part of a bundle the user holds, such as a tier feature (product, bundle).' },
  CONFIGURED_DIRECT: { description: 'The product is assigned to the user directly (product, since).' },
  CONFIGURED_BY_GROUP: { description: "The product is a function of the user's configuration group (product, since)." },
  INCLUDED_IN_BUNDLE: { description: 'The product is included in another product configured for the user (product, bundle, since).' },
  USER_NOT_ACTIVE: { description: 'The user is PREPARING or INACTIVE: only ACTIVE users hold licences (status).' },
  HELD_BY_ORGANIZATION: { description: 'The product is held by the organization as a whole, never by users (product).' },
  PREREQUISITES_MISSING: { description: 'Prerequisites of the product are not met (missing: the unmet prerequisites, separated by "; ").' },
  HOLDER_PREREQUISITES_MISSING: {
    description: 'The holder lacks a recorded fact the licence needs, such as an enrolled security key (missing); not granted until then.',
  },
  PREREQUISITES_MET: { description: 'The prerequisites of the product are met.' },
  CONCURRENT_ELIGIBLE: { description: 'A concurrent licence: the user is eligible and takes a seat per session (product).' },
  CONCURRENT_NOT_ENTITLED: { description: 'A concurrent licence the organization has none of (product).' },
  NOT_IN_FULL_USE_CONCURRENT: { description: 'The licence is not in full use (NONE, PENDING or DEMO): only demo sessions.' },
  NOT_IN_FULL_USE_NAMED: { description: 'The licence is not in full use (NONE, PENDING or DEMO): named licences are not granted.' },
  COVERED_BY_BUNDLE: { description: 'Covered by a bundle the user holds: no licence of the product is used (product, bundle).' },
  COVERED_BY_CONCURRENT_BUNDLE: { description: 'Covered by a concurrent bundle within its seat count (bundle, seats, rank).' },
  RANK_GRANTED: { description: 'Within the licences available in the fixed order: granted (rank, competing, available).' },
  RANK_NOT_GRANTED: { description: 'Beyond the licences available in the fixed order: not granted (rank, competing, available, bound).' },
  SEAT_RESERVATION: {
    description:
      'A site or configuration group of the user reserves seats of the concurrent pool for its members (R-RES-3; unit, product, reserved, inUse).',
  },
  SEAT_CAP: {
    description:
      'A site or configuration group of the user caps the seats its members hold at once, not reached (R-RES-5; unit, product, cap, inUse).',
  },
  SEAT_CAP_REACHED: {
    description:
      'A site or configuration group of the user holds its cap: a new session of the user is refused CAP_REACHED (R-RES-5; unit, product, cap, inUse).',
  },
  SEATS_RESERVED_FOR_OTHERS: {
    description:
      "The pool's free seats are reserved for other sites or groups: a new session of the user is refused SEATS_RESERVED (R-RES-3; product, reason).",
  },
} as const;

export type ExplainStepCode = keyof typeof EXPLAIN_STEP_CODES;

/** One named figure of a step, as text (numbers in decimal, instants in ISO 8601). */
export interface ExplainParameter {
  name: string;
  value: string;
}

export interface ExplainStep {
  code: ExplainStepCode;
  /** The sentence of `Explanation.steps`, in English. */
  text: string;
  parameters: ExplainParameter[];
}

/** A step from its code, text and parameters (numbers and dates turned into text). */
export function step(code: ExplainStepCode, text: string, parameters: Record<string, string | number | Date> = {}): ExplainStep {
  return {
    code,
    text,
    parameters: Object.entries(parameters).map(([name, value]) => ({
      name,
      value: value instanceof Date ? value.toISOString() : String(value),
    })),
  };
}
