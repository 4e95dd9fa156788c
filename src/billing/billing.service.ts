/**
 * The billing report of one organization for one calendar month (UTC), per
 * product (R-BILL-1), and its CSV export (R-BILL-2). Its usage figures are
 * those of `usage(from, to)` for the month (the same function computes
 * them), so the report and the usage query never disagree: an overage
 * episode crossing the month's edge is billed by each month for its own part
 * (R-OVER-2).
 *
 * The money rules of the vendors' documentation it follows:
 * - connect storm: the month's most emergency licences in use at once is the
 *   billed figure ("緊急時最大使用 … この数が請求対象になります", R-EMER-2);
 *   "アクティブ - 請求期間" counts every user ACTIVE at any moment of the
 *   period (R-TEN-2).
 * - Zoom: overage costs nothing within the 30-minute grace (R-OVER-1) and is
 *   invoiced in the next billing cycle ("im nächsten Abrechnungszyklus
 *   ausgewiesen"): `overageInvoicedIn` names that month.
 *
 * @example
 * const report = await billingReport({ db, catalogs, now }, organizationId, '2026-11');
 * process.stdout.write(billingCsv(report));
 */
import { stringify } from 'csv-stringify/sync';
import { type Viewer, requireAuthenticated } from '../auth/viewer.ts';
import type { ParsedKeys } from '../allocation/keys.ts';
import { statusFrom } from '../allocation/keys.ts';
import type { Allocation, Catalog } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import { badInput, forbidden, notFound } from '../errors.ts';
import { isId } from '../ids.ts';
import { monthOf, monthPeriod } from '../licensing/billing.ts';
import { entitlementsOf } from '../licensing/entitlements.ts';
import type { OverageEpisode } from '../licensing/metering.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import { usageBetween } from '../sessions/usage.service.ts';
import { countActiveBetween, findOrganization } from '../tenancy/tenancy.repository.ts';

/** One product's figures for the month. */
export interface BillingRow {
  product: string;
  /** The allocation the key in force gives it (the catalog's default when no key names it). */
  allocation: Allocation;
  /** Licences the organization holds of it (bundles included), per the key in force at the end of the month, or now. */
  licensed: number;
  /** Emergency seats or units held on top (concurrent products). */
  emergencyLicensed: number;
  /** Most seats in use at once, every kind counted (R-METER-0); 0 for products without a pool. */
  peakConcurrent: number;
  /** Most emergency seats in use at once: the billed emergency figure (R-EMER-2). */
  emergencyPeak: number;
  /** Sum over billable episodes of their peak excess within the month (R-OVER-1, R-OVER-2). */
  billableOverage: number;
  /** Overage episodes overlapping the month, each whole, with the peak of the month's part. */
  overageEpisodes: OverageEpisode[];
}

export interface BillingReport {
  organizationId: string;
  organizationName: string;
  catalog: Catalog;
  /** YYYY-MM. */
  period: string;
  from: Date;
  to: Date;
  /** When the report was computed. */
  at: Date;
  /**
   * The month is over and no overage episode of it can still change its
   * figures (none still running within its grace): the report is final.
   */
  complete: boolean;
  /** Users ACTIVE at any moment of the month, up to now for the current month (R-TEN-2). */
  activeUsers: number;
  /** The month whose invoice carries this month's overage: the next one (Zoom: "im nächsten Abrechnungszyklus"). */
  overageInvoicedIn: string;
  rows: BillingRow[];
}

export interface BillingDeps {
  db: Executor;
  catalogs: ReadonlyMap<string, Catalog>;
  /** The clock of record's now. */
  now: Date;
  parsedKeys?: ParsedKeys;
}

/**
 * R-BILL-1: the report of `organizationId` for `period` (YYYY-MM, UTC). A
 * malformed period or one that has not begun is BAD_USER_INPUT naming
 * `field`; an unknown organization NOT_FOUND.
 */
export async function billingReport(deps: BillingDeps, organizationId: string, period: string, field = 'month'): Promise<BillingReport> {
  const month = monthPeriod(period);
  if (!month) throw badInput(field, `must be a calendar month YYYY-MM (UTC), e.g. ${monthOf(deps.now)}`, 'R-BILL-1');
  const { db, now } = deps;
  if (month.from.getTime() > now.getTime()) throw badInput(field, `${period} has not begun yet`, 'R-BILL-1');
  const org = isId(organizationId) ? await findOrganization(db, organizationId) : undefined;
  if (!org) throw notFound('organization', organizationId);
  const catalog = deps.catalogs.get(org.catalog_code);
  if (!catalog) throw new Error(`catalog ${org.catalog_code} of organization ${org.id} is not loaded`);

  // The licences held: those of the key in force at the month's last instant (or now), as activated by then.
  const at = new Date(Math.min(now.getTime(), month.to.getTime() - 1));
  const keys = (await keysOfOrganizations(db, [org.id])).filter((k) => k.activated_at.getTime() <= at.getTime());
  const status = statusFrom({ ...org, clock_high_water: null }, keys, at, deps.parsedKeys);
  const entitlements = status.fullUse ? entitlementsOf(catalog, status.entitlements) : [];

  const [usage, activeUsers] = await Promise.all([
    usageBetween(db, org, catalog, month.from, month.to, now),
    // Up to now (inclusive) for the current month, as activeUsersInBillingPeriod counts.
    countActiveBetween(db, org.id, month.from, new Date(Math.min(month.to.getTime(), now.getTime() + 1))),
  ]);
  const usageOf = new Map(usage.map((u) => [u.product, u]));
  const entitlementOf = new Map(entitlements.map((e) => [e.product, e]));
  const rows: BillingRow[] = catalog.products
    .filter((p) => entitlementOf.has(p.code) || usageOf.has(p.code))
    .map((p) => {
      const e = entitlementOf.get(p.code);
      const u = usageOf.get(p.code);
      return {
        product: p.code,
        allocation: e?.allocation ?? p.allocation,
        licensed: e?.total ?? 0,
        emergencyLicensed: e?.emergencyQuantity ?? 0,
        peakConcurrent: u?.peakConcurrent ?? 0,
        emergencyPeak: u?.emergencyPeak ?? 0,
        billableOverage: u?.billableOverage ?? 0,
        overageEpisodes: u?.episodes ?? [],
      };
    });
  const settled = (e: OverageEpisode) => e.endedAt !== null || e.billable;
  const next = new Date(Date.UTC(month.to.getUTCFullYear(), month.to.getUTCMonth(), 1));
  return {
    organizationId: org.id,
    organizationName: org.name,
    catalog,
    period: month.period,
    from: month.from,
    to: month.to,
    at: now,
    complete: now.getTime() >= month.to.getTime() && rows.every((r) => r.overageEpisodes.every(settled)),
    activeUsers,
    overageInvoicedIn: monthOf(next),
    rows,
  };
}

/** Who may read billing: ADMIN tokens of the organization and the operator (R-BILL-3). */
export function authorizeBilling(viewer: Viewer, organizationId: string): void {
  requireAuthenticated(viewer);
  if (viewer.kind === 'operator') return;
  if (viewer.organizationId !== organizationId) throw notFound('organization', organizationId);
  if (viewer.role !== 'ADMIN') throw forbidden(`role ${viewer.role} may not read billing; needs ADMIN or the operator (R-BILL-3)`);
}

/** The report for the viewer of `ctx`, after `authorizeBilling`. */
export async function billingReportFor(ctx: Context, organizationId: string, period: string, field = 'month'): Promise<BillingReport> {
  authorizeBilling(ctx.viewer, organizationId);
  return billingReport(
    { db: ctx.db, catalogs: ctx.catalogs, now: ctx.clock.now(), parsedKeys: ctx.caches.parsedKeys },
    organizationId,
    period,
    field,
  );
}

/**
 * The CSV columns, in order (README "Billing"): one row per product; the
 * organization's figures (active users, completeness) repeat on every row.
 */
export const BILLING_CSV_COLUMNS = [
  'organization_id',
  'organization_name',
  'period',
  'period_start',
  'period_end',
  'product',
  'allocation',
  'licensed',
  'emergency_licensed',
  'active_users',
  'peak_concurrent',
  'emergency_peak',
  'billable_overage',
  'billable_overage_episodes',
  'overage_invoiced_in',
  'complete',
] as const;

/**
 * R-BILL-2: the report as CSV (RFC 4180: CRLF line ends, fields quoted when
 * they hold a comma, quote or line break, quotes doubled), with a header row.
 * A text cell that starts with `=`, `+`, `-`, `@` (or a tab or carriage
 * return) is prefixed with `'` so that no spreadsheet runs it as a formula
 * (an organization's name is chosen by its admins).
 */
export function billingCsv(report: BillingReport): string {
  const records = report.rows.map((r) => [
    report.organizationId,
    report.organizationName,
    report.period,
    report.from.toISOString(),
    report.to.toISOString(),
    r.product,
    r.allocation,
    r.licensed,
    r.emergencyLicensed,
    report.activeUsers,
    r.peakConcurrent,
    r.emergencyPeak,
    r.billableOverage,
    r.overageEpisodes.filter((e) => e.billable).length,
    report.overageInvoicedIn,
    report.complete,
  ]);
  return stringify(records, {
    header: true,
    columns: [...BILLING_CSV_COLUMNS],
    record_delimiter: 'windows',
    escape_formulas: true,
    cast: { boolean: (value) => (value ? 'true' : 'false') },
  });
}
