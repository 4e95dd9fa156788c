/**
 * Who holds which named licence (R-NAMED-1..3, R-UNDER-1..3, R-FIX-1,
 * R-ADDON-1). Pure: the same stored state always gives the same holders, on
 * every instance and after every restart.
 *
 * A user *needs* a product when it is configured for them (a function of their
 * configuration group: GROUP; or assigned directly: DIRECT) or when a product
 * configured for them includes it as a countable licence (Office Plus → Office:
 * INCLUDED). Products are decided in dependency order, so a prerequisite's
 * status is known before the products that need it. Users who compete for too
 * few licences get them in a fixed order: the time the product was first
 * configured for the user, then user id.
 *
 * @example
 * const result = allocate({ catalog, entitlements, fullUse: true, users });
 * result.users.get(userId)?.find((l) => l.product === 'OFFICE')?.status; // 'GRANTED'
 */
import type { Allocation, Catalog, Product, Requirement } from '../catalogs/types.ts';
import type { EntitlementView } from './entitlements.ts';
import { step, type ExplainStep } from './explain-steps.ts';
import { allocationOf as effectiveAllocation } from './seats.ts';

export type AssignmentSource = 'DIRECT' | 'GROUP' | 'INCLUDED';
export type AssignmentStatus = 'GRANTED' | 'UNLICENSED' | 'MISSING_PREREQUISITE';

/** One stored configuration fact: the product is configured for the user since `configuredAt`. */
export interface ConfiguredProduct {
  product: string;
  source: 'DIRECT' | 'GROUP';
  configuredAt: Date;
}

export interface AllocationUser {
  id: string;
  status: string;
  /** Options of the user's configuration group (switch conditional requirements on). */
  options: readonly string[];
  configured: readonly ConfiguredProduct[];
}

export interface AllocationInput {
  catalog: Catalog;
  entitlements: readonly EntitlementView[];
  /** False in NONE, PENDING and DEMO: named licences are not granted (R-LIFE-5). */
  fullUse: boolean;
  users: readonly AllocationUser[];
  /** Licences per product bound by the reassignment cool-down: nobody may hold them now (R-REASSIGN). */
  boundByCooldown?: ReadonlyMap<string, number>;
}

export interface UserLicense {
  product: string;
  source: AssignmentSource;
  status: AssignmentStatus;
  /** Place in the fixed order among the users competing for the product (1 = first); null where nobody competes. */
  rank: number | null;
  /** When the product was first configured for the user (for INCLUDED: the including product). */
  configuredAt: Date;
  /** The bundle that provides the product without using one of its licences (Elite → Workforce Management). */
  coveredBy: string | null;
  /** Unmet prerequisites, in words. */
  missing: readonly string[];
  /** How the decision came about, compact (shared between licences); `licenseSteps` puts it in words. */
  decision: Decision;
}

/** The branch of the rules that decided a licence. */
export type Outcome =
  /** Not configured; part of a bundle the user holds (a tier's feature). */
  | 'BUNDLE_FEATURE'
  | 'INACTIVE'
  /** Held by the organization as a whole. */
  | 'ACCOUNT'
  | 'MISSING_PREREQUISITE'
  | 'CONCURRENT_ELIGIBLE'
  | 'CONCURRENT_NOT_ENTITLED'
  /** Covered by a bundle that covers every holder. */
  | 'COVERED'
  /** Covered by a concurrent bundle, within its seat count. */
  | 'COVERED_CONCURRENT'
  | 'RANKED_GRANTED'
  | 'RANKED_NOT_GRANTED';

/** Figures of one product's decision round, shared by the decisions of its licences. */
export interface DecisionRound {
  fullUse: boolean;
  capacity: number;
  /** Licences bound by the reassignment cool-down. */
  bound: number;
  /** Users ranked in the fixed order. */
  competing: number;
  /** The product has prerequisites (whether or not they apply to the user). */
  hasRequirements: boolean;
}

/**
 * Why a licence has its status, without the words: one object per product
 * and branch (and including product, user status or covering bundle), shared
 * by every licence decided the same way, so a 100,000-user allocation holds
 * a few dozen of them instead of several strings per licence.
 */
export interface Decision {
  outcome: Outcome;
  round: DecisionRound;
  /** INCLUDED: the configured product that includes this one. */
  includedBy: string | null;
  /** INACTIVE: the user's status. */
  userStatus: string | null;
  /** COVERED_CONCURRENT: the covering bundle's seats. */
  bundleSeats: number;
}

const NO_MISSING: readonly string[] = Object.freeze([]);

export interface ProductAllocation {
  product: string;
  allocation: Allocation;
  /** Licences users may hold now: total less those bound by the cool-down; 0 without full use. */
  capacity: number;
  /** Active users who need the product (including those missing a prerequisite). */
  required: number;
  granted: number;
  /** Licences taken from the pool (covered users take none). */
  consumed: number;
  unlicensed: number;
  missingPrerequisite: number;
}

export interface AllocationResult {
  /** Per user, in catalog product order. Users without any licence are absent. */
  users: Map<string, UserLicense[]>;
  products: Map<string, ProductAllocation>;
}

interface Need {
  source: AssignmentSource;
  configuredAt: Date;
  /** For INCLUDED needs: the configured product that includes it. */
  includedBy: string | null;
}

const ACTIVE = 'ACTIVE';

/** Requirements before the products that need them; bundles before what they cover. */
export function decisionOrder(catalog: Catalog): Product[] {
  const byCode = new Map(catalog.products.map((p) => [p.code, p]));
  const before = new Map<string, Set<string>>(catalog.products.map((p) => [p.code, new Set<string>()]));
  for (const p of catalog.products) {
    for (const r of p.requirements) if (r.scope === 'USER') for (const code of r.anyOf) before.get(p.code)?.add(code);
    for (const i of p.includes) if (!i.countsTowardTotal) before.get(i.product)?.add(p.code);
  }
  const order: Product[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (code: string): void => {
    if (state.get(code) !== undefined) return; // a cycle (refused by the catalog loader) or done
    state.set(code, 'visiting');
    for (const dep of before.get(code) ?? []) visit(dep);
    state.set(code, 'done');
    const product = byCode.get(code);
    if (product) order.push(product);
  };
  for (const p of catalog.products) visit(p.code);
  return order;
}

function describeRequirement(r: Requirement): string {
  const what = r.anyOf.join(' or ');
  const scope = r.scope === 'USER' ? 'on the same user' : 'for the organization';
  const amount = r.minQuantity > 1 ? `at least ${r.minQuantity} ` : '';
  const when = r.condition ? ` (option ${r.condition})` : '';
  return `${amount}${what} ${scope}${when}`;
}

/** The needs of one user: configured products and what they include as countable licences. */
function needsOf(catalog: Catalog, user: AllocationUser): Map<string, Need> {
  const needs = new Map<string, Need>();
  for (const c of user.configured) {
    const prev = needs.get(c.product);
    const source = prev?.source === 'DIRECT' || c.source === 'DIRECT' ? 'DIRECT' : 'GROUP';
    const configuredAt = prev && prev.configuredAt < c.configuredAt ? prev.configuredAt : c.configuredAt;
    needs.set(c.product, { source, configuredAt, includedBy: null });
  }
  for (const [code, need] of [...needs]) {
    const product = catalog.products.find((p) => p.code === code);
    for (const inclusion of product?.includes ?? []) {
      if (!inclusion.countsTowardTotal) continue;
      const prev = needs.get(inclusion.product);
      if (prev?.includedBy === null) {
        // Configured itself as well: still one licence, but needed since the bundle
        // brought it, so a later explicit assignment does not lose its place (R-UNDER-1).
        if (need.configuredAt < prev.configuredAt) needs.set(inclusion.product, { ...prev, configuredAt: need.configuredAt });
        continue;
      }
      if (!prev || need.configuredAt < prev.configuredAt) {
        needs.set(inclusion.product, { source: 'INCLUDED', configuredAt: need.configuredAt, includedBy: code });
      }
    }
  }
  return needs;
}

/** Fixed order (R-UNDER-1): first configured, then user id. */
function byFixedOrder(a: { need: Need; user: AllocationUser }, b: { need: Need; user: AllocationUser }): number {
  const t = a.need.configuredAt.getTime() - b.need.configuredAt.getTime();
  if (t !== 0) return t;
  return a.user.id < b.user.id ? -1 : a.user.id > b.user.id ? 1 : 0;
}

export function allocate(input: AllocationInput): AllocationResult {
  const { catalog, fullUse } = input;
  const entitlement = new Map(input.entitlements.map((e) => [e.product, e]));
  const totals = new Map(input.entitlements.map((e) => [e.product, e.total]));
  const allocationOf = (p: Product): Allocation => effectiveAllocation(p, entitlement);

  // Users by position: per-user state in arrays, not maps keyed by id (100,000 users × every product).
  const users = input.users;
  const needs = users.map((u) => needsOf(catalog, u));
  const decided = users.map(() => new Map<string, UserLicense>());
  /** Positions of the users who need each product, in input order. */
  const needers = new Map<string, number[]>();
  needs.forEach((n, i) => {
    for (const code of n.keys()) {
      const list = needers.get(code);
      if (list) list.push(i);
      else needers.set(code, [i]);
    }
  });
  const everyone = users.map((_, i) => i);
  const products = new Map<string, ProductAllocation>();
  const granted = (i: number, code: string) => decided[i]?.get(code)?.status === 'GRANTED';

  for (const product of decisionOrder(catalog)) {
    const allocation = allocationOf(product);
    const total = totals.get(product.code) ?? 0;
    const bound = input.boundByCooldown?.get(product.code) ?? 0;
    const capacity = fullUse ? Math.max(0, total - bound) : 0;
    const stats: ProductAllocation = {
      product: product.code,
      allocation,
      capacity,
      required: 0,
      granted: 0,
      consumed: 0,
      unlicensed: 0,
      missingPrerequisite: 0,
    };
    const round: DecisionRound = { fullUse, capacity, bound, competing: 0, hasRequirements: product.requirements.length > 0 };
    /** One decision per branch (and included-by product, user status or bundle seats): shared by the licences decided alike. */
    const decisions = new Map<string, Decision>();
    const decision = (outcome: Outcome, includedBy: string | null, userStatus: string | null = null, bundleSeats = 0): Decision => {
      const key =
        includedBy === null && userStatus === null && bundleSeats === 0
          ? outcome
          : `${outcome}|${includedBy ?? ''}|${userStatus ?? ''}|${bundleSeats}`;
      let d = decisions.get(key);
      if (!d) {
        d = { outcome, round, includedBy, userStatus, bundleSeats };
        decisions.set(key, d);
      }
      return d;
    };

    // Bundles held by a user that cover this product without using its licences.
    const coveringBundles = catalog.products.filter((b) => b.includes.some((i) => i.product === product.code && !i.countsTowardTotal));
    const coverageFor = (i: number): { bundle: string; always: boolean } | null => {
      for (const b of coveringBundles) {
        if (!granted(i, b.code)) continue;
        const inclusion = b.includes.find((i) => i.product === product.code);
        if (inclusion?.coverage === 'ALWAYS' || allocationOf(b) === 'NAMED') return { bundle: b.code, always: true };
        if (allocationOf(b) === 'CONCURRENT') return { bundle: b.code, always: false };
      }
      return null;
    };
    // Concurrent bundles cover only as many users as they have seats (R-ADDON-1).
    const concurrentCoverLeft = new Map(coveringBundles.map((b) => [b.code, fullUse ? (totals.get(b.code) ?? 0) : 0]));

    const competing: { user: AllocationUser; index: number; need: Need; license: UserLicense }[] = [];
    // Only users who need the product can hold it, unless a bundle may cover it for anyone holding the bundle.
    for (const i of coveringBundles.length > 0 ? everyone : (needers.get(product.code) ?? [])) {
      const user = users[i];
      const userNeeds = needs[i];
      const userDecided = decided[i];
      if (!user || !userNeeds || !userDecided) continue;
      const need = userNeeds.get(product.code);
      const cover = need ? null : coverageFor(i);
      if (!need) {
        // Not configured, but provided by a held bundle (a tier's features, AI Expert Assist on Elite).
        if (cover?.always) {
          userDecided.set(product.code, {
            product: product.code,
            source: 'INCLUDED',
            status: 'GRANTED',
            rank: null,
            configuredAt: userNeeds.get(cover.bundle)?.configuredAt ?? new Date(0),
            coveredBy: cover.bundle,
            missing: NO_MISSING,
            decision: decision('BUNDLE_FEATURE', null),
          });
        }
        continue;
      }
      const includedBy = need.source === 'INCLUDED' ? need.includedBy : null;
      const license: UserLicense = {
        product: product.code,
        source: need.source,
        status: 'UNLICENSED',
        rank: null,
        configuredAt: need.configuredAt,
        coveredBy: null,
        missing: NO_MISSING,
        decision: decision('RANKED_NOT_GRANTED', includedBy),
      };
      userDecided.set(product.code, license);

      if (user.status !== ACTIVE) {
        license.decision = decision('INACTIVE', includedBy, user.status);
        continue;
      }
      stats.required += 1;
      if (allocation === 'ACCOUNT') {
        license.decision = decision('ACCOUNT', includedBy);
        stats.unlicensed += 1;
        continue;
      }
      let missing: string[] | null = null;
      for (const r of product.requirements) {
        if (r.condition !== null && !user.options.includes(r.condition)) continue;
        const met =
          r.scope === 'USER'
            ? r.anyOf.some((code) => granted(i, code))
            : r.anyOf.reduce((sum, code) => sum + (totals.get(code) ?? 0), 0) >= r.minQuantity;
        if (!met) {
          missing ??= [];
          missing.push(describeRequirement(r));
        }
      }
      if (missing) {
        license.missing = missing;
        license.status = 'MISSING_PREREQUISITE';
        license.decision = decision('MISSING_PREREQUISITE', includedBy);
        stats.missingPrerequisite += 1;
        continue;
      }
      competing.push({ user, index: i, need, license });
    }

    if (allocation === 'CONCURRENT') {
      // Eligibility only (R-CONC-0): seats are taken per session, not held.
      const entitled = total > 0 || (entitlement.get(product.code)?.emergencyQuantity ?? 0) > 0;
      for (const { license, need } of competing) {
        const includedBy = need.source === 'INCLUDED' ? need.includedBy : null;
        if (fullUse && entitled) {
          license.status = 'GRANTED';
          license.decision = decision('CONCURRENT_ELIGIBLE', includedBy);
          stats.granted += 1;
        } else {
          license.decision = decision('CONCURRENT_NOT_ENTITLED', includedBy);
          stats.unlicensed += 1;
        }
      }
    } else {
      competing.sort(byFixedOrder);
      round.competing = competing.length;
      competing.forEach(({ index: i, license, need }, index) => {
        const includedBy = need.source === 'INCLUDED' ? need.includedBy : null;
        license.rank = index + 1;
        const cover = coverageFor(i);
        if (cover?.always) {
          license.coveredBy = cover.bundle;
          license.status = 'GRANTED';
          license.decision = decision('COVERED', includedBy);
        } else if (cover && (concurrentCoverLeft.get(cover.bundle) ?? 0) > 0) {
          concurrentCoverLeft.set(cover.bundle, (concurrentCoverLeft.get(cover.bundle) ?? 0) - 1);
          license.coveredBy = cover.bundle;
          license.status = 'GRANTED';
          license.decision = decision('COVERED_CONCURRENT', includedBy, null, totals.get(cover.bundle) ?? 0);
        } else if (stats.consumed < capacity) {
          stats.consumed += 1;
          license.status = 'GRANTED';
          license.decision = decision('RANKED_GRANTED', includedBy);
        }
        // Otherwise it stays RANKED_NOT_GRANTED.
        if (license.status === 'GRANTED') stats.granted += 1;
        else stats.unlicensed += 1;
      });
    }
    products.set(product.code, stats);
  }

  const order = new Map(catalog.products.map((p, i) => [p.code, i]));
  const byUser = new Map<string, UserLicense[]>();
  decided.forEach((licenses, i) => {
    const user = users[i];
    if (licenses.size === 0 || !user) return;
    byUser.set(
      user.id,
      [...licenses.values()].sort((a, b) => (order.get(a.product) ?? 0) - (order.get(b.product) ?? 0)),
    );
  });
  return { users: byUser, products };
}

/**
 * How the decision of `license` came about, step by step (user.explain):
 * rendered on demand from its compact decision, never stored.
 *
 * @example
 * licenseSteps(result.users.get(userId)![0]!); // ['OFFICE is a function of the user's configuration group (configured since …).', 'Rank 1 of 3 …: granted.']
 */
export function licenseSteps(license: UserLicense): string[] {
  return licenseStepDetails(license).map((s) => s.text);
}

/**
 * `licenseSteps` with a stable code and the figures of every step (R-EXPLAIN-1).
 *
 * @example
 * licenseStepDetails(license).map((s) => s.code); // ['CONFIGURED_BY_GROUP', 'RANK_GRANTED']
 */
export function licenseStepDetails(license: UserLicense): ExplainStep[] {
  const { product: code, decision: d } = license;
  const r = d.round;
  const bundle = license.coveredBy ?? '';
  if (d.outcome === 'BUNDLE_FEATURE') {
    return [step('BUNDLE_FEATURE', `${code} is part of ${bundle}, which the user holds.`, { product: code, bundle })];
  }
  const since = license.configuredAt;
  const at = since.toISOString();
  const steps = [
    license.source === 'DIRECT'
      ? step('CONFIGURED_DIRECT', `${code} is assigned to the user directly (since ${at}).`, { product: code, since })
      : license.source === 'GROUP'
        ? step('CONFIGURED_BY_GROUP', `${code} is a function of the user's configuration group (configured since ${at}).`, {
            product: code,
            since,
          })
        : step('INCLUDED_IN_BUNDLE', `${code} is included in ${d.includedBy}, configured for the user (since ${at}).`, {
            product: code,
            bundle: d.includedBy ?? '',
            since,
          }),
  ];
  switch (d.outcome) {
    case 'INACTIVE':
      steps.push(step('USER_NOT_ACTIVE', `The user is ${d.userStatus}: only ACTIVE users hold licences.`, { status: d.userStatus ?? '' }));
      return steps;
    case 'ACCOUNT':
      steps.push(step('HELD_BY_ORGANIZATION', `${code} is held by the organization as a whole, not by users.`, { product: code }));
      return steps;
    case 'MISSING_PREREQUISITE': {
      const missing = license.missing.join('; ');
      steps.push(step('PREREQUISITES_MISSING', `Prerequisites not met: ${missing}.`, { missing }));
      return steps;
    }
    default:
      break;
  }
  if (r.hasRequirements) steps.push(step('PREREQUISITES_MET', 'Prerequisites met.'));
  const rank = license.rank ?? 0;
  const ranked = { rank, competing: r.competing, available: r.capacity };
  switch (d.outcome) {
    case 'CONCURRENT_ELIGIBLE':
      steps.push(
        step('CONCURRENT_ELIGIBLE', `${code} is a concurrent licence: the user is eligible and takes a seat per session.`, {
          product: code,
        }),
      );
      break;
    case 'CONCURRENT_NOT_ENTITLED':
      steps.push(
        r.fullUse
          ? step('CONCURRENT_NOT_ENTITLED', `The organization has no ${code} licences.`, { product: code })
          : step('NOT_IN_FULL_USE_CONCURRENT', 'The licence is not in full use (NONE, PENDING or DEMO): only demo sessions.'),
      );
      break;
    case 'COVERED':
      steps.push(
        step('COVERED_BY_BUNDLE', `Covered by ${bundle}, which the user holds: no ${code} licence is used.`, { product: code, bundle }),
      );
      break;
    case 'COVERED_CONCURRENT':
      steps.push(
        step(
          'COVERED_BY_CONCURRENT_BUNDLE',
          `Covered by ${bundle} on the concurrent model, which covers as many users as it has seats (${d.bundleSeats}): rank ${rank} is within them.`,
          { bundle, seats: d.bundleSeats, rank },
        ),
      );
      break;
    case 'RANKED_GRANTED':
      steps.push(
        step(
          'RANK_GRANTED',
          `Rank ${rank} of ${r.competing} in the fixed order (first configured, then user id); ${r.capacity} licence(s) available: granted.`,
          ranked,
        ),
      );
      break;
    case 'RANKED_NOT_GRANTED':
      steps.push(
        r.fullUse
          ? step(
              'RANK_NOT_GRANTED',
              `Rank ${rank} of ${r.competing} in the fixed order (first configured, then user id); only ${r.capacity} licence(s) available${r.bound > 0 ? ` (${r.bound} bound by the reassignment cool-down)` : ''}: not granted.`,
              { ...ranked, bound: r.bound },
            )
          : step('NOT_IN_FULL_USE_NAMED', 'The licence is not in full use (NONE, PENDING or DEMO): named licences are not granted.'),
      );
      break;
  }
  return steps;
}

export interface LicenseWarning {
  code: 'UNLICENSED' | 'MISSING_PREREQUISITE';
  product: string;
  message: string;
}

/** Warnings of one active user (R-UNDER-2, R-NAMED-3); inactive users carry none. */
export function userWarnings(
  user: Pick<AllocationUser, 'status'>,
  licenses: readonly UserLicense[],
  products: ReadonlyMap<string, ProductAllocation>,
): LicenseWarning[] {
  if (user.status !== ACTIVE) return [];
  const warnings: LicenseWarning[] = [];
  for (const l of licenses) {
    if (l.status === 'MISSING_PREREQUISITE') {
      warnings.push({
        code: 'MISSING_PREREQUISITE',
        product: l.product,
        message: `${l.product} is configured but needs ${l.missing.join('; ')}.`,
      });
    } else if (l.status === 'UNLICENSED') {
      const p = products.get(l.product);
      warnings.push({
        code: 'UNLICENSED',
        product: l.product,
        message:
          l.rank !== null && p
            ? `No ${l.product} licence: rank ${l.rank} of ${p.required - p.missingPrerequisite}, ${p.capacity} licence(s) available.`
            : `No ${l.product} licence.`,
      });
    }
  }
  return warnings;
}

/** Differences between two allocations, for LICENSE_GRANTED / LICENSE_REVOKED events (R-UNDER-3). */
export function allocationChanges(
  before: AllocationResult,
  after: AllocationResult,
): { userId: string; product: string; granted: boolean; detail: string }[] {
  const changes: { userId: string; product: string; granted: boolean; detail: string }[] = [];
  const userIds = new Set([...before.users.keys(), ...after.users.keys()]);
  for (const userId of userIds) {
    const was = new Map((before.users.get(userId) ?? []).map((l) => [l.product, l]));
    const now = new Map((after.users.get(userId) ?? []).map((l) => [l.product, l]));
    for (const code of new Set([...was.keys(), ...now.keys()])) {
      const a = was.get(code)?.status === 'GRANTED';
      const b = now.get(code)?.status === 'GRANTED';
      if (a === b) continue;
      const l = now.get(code);
      const detail = b
        ? `${l?.source ?? 'INCLUDED'}${l?.rank ? `, rank ${l.rank}` : ''}${l?.coveredBy ? `, covered by ${l.coveredBy}` : ''}`
        : l
          ? `now ${l.status}${l.rank ? ` (rank ${l.rank})` : ''}`
          : 'no longer configured';
      changes.push({ userId, product: code, granted: b, detail });
    }
  }
  return changes;
}
