import { builder } from '../schema/builder.ts';
import { OrganizationRef, ProductRef, productOfCatalog } from '../schema/refs.ts';
import { OverageEpisodeRef } from '../sessions/sessions.schema.ts';
import { type BillingReport, type BillingRow, billingReportFor } from './billing.service.ts';

const BillingRowRef = builder.objectRef<{ report: BillingReport; row: BillingRow }>('BillingRow').implement({
  description: "One product's billing figures for a calendar month (R-BILL-1).",
  fields: (t) => ({
    product: t.field({
      type: ProductRef,
      description: 'The product.',
      resolve: (r) => productOfCatalog(r.report.catalog, r.row.product),
    }),
    licensed: t.int({
      description: 'Licences the organization holds of it (bundles included), per the key in force at the end of the month (or now).',
      resolve: (r) => r.row.licensed,
    }),
    emergencyLicensed: t.int({
      description: 'Emergency seats or units held on top (concurrent products).',
      resolve: (r) => r.row.emergencyLicensed,
    }),
    peakConcurrent: t.int({
      description: 'Most seats in use at once in the month, every kind counted (R-METER-0); as usage(from, to) for the month.',
      resolve: (r) => r.row.peakConcurrent,
    }),
    emergencyPeak: t.int({
      description: 'Most emergency seats in use at once in the month: the billed emergency figure (R-EMER-2).',
      resolve: (r) => r.row.emergencyPeak,
    }),
    billableOverage: t.int({
      description:
        'Sum over billable overage episodes (longer than the grace) of their peak excess within the month: an episode crossing the month boundary is split at it (R-OVER-1, R-OVER-2).',
      resolve: (r) => r.row.billableOverage,
    }),
    overageEpisodes: t.field({
      type: [OverageEpisodeRef],
      description:
        'Overage episodes overlapping the month, each reported whole, with the peak of its part in the month (peakExcessInInterval).',
      resolve: (r) => r.row.overageEpisodes,
    }),
  }),
});

const BillingReportRef = builder.objectRef<BillingReport>('BillingReport').implement({
  description:
    "An organization's billing figures for one calendar month (UTC), per product (R-BILL-1); also as CSV at /billing/<organization>/<YYYY-MM>.csv.",
  fields: (t) => ({
    period: t.exposeString('period', { description: 'The month, YYYY-MM (UTC).' }),
    from: t.field({ type: 'DateTime', description: 'First instant of the month (inclusive).', resolve: (r) => r.from }),
    to: t.field({ type: 'DateTime', description: 'First instant of the next month (exclusive).', resolve: (r) => r.to }),
    complete: t.exposeBoolean('complete', {
      description: 'True once the month is over and no overage episode of it is still running within its grace: the figures are final.',
    }),
    activeUsers: t.exposeInt('activeUsers', {
      description: 'Users ACTIVE at any moment of the month (up to now for the current month; R-TEN-2).',
    }),
    overageInvoicedIn: t.exposeString('overageInvoicedIn', {
      description: "The month whose invoice carries this month's overage: the next one (overage is billed in the next cycle, R-OVER-1).",
    }),
    rows: t.field({
      type: [BillingRowRef],
      description: 'One row per product held or used in the month, in catalog order.',
      resolve: (r) => r.rows.map((row) => ({ report: r, row })),
    }),
  }),
});

builder.objectFields(OrganizationRef, (t) => ({
  billing: t.field({
    type: BillingReportRef,
    description: 'Billing figures of a calendar month (UTC) per product (R-BILL-1); ADMIN tokens and the operator (R-BILL-3).',
    args: {
      month: t.arg.string({ required: true, description: 'The month, YYYY-MM (UTC), e.g. 2026-11; not one that has not begun.' }),
    },
    resolve: (org, args, ctx) => billingReportFor(ctx, org.id, args.month),
  }),
}));
