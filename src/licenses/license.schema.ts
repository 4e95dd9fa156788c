import type { Catalog } from '../catalogs/types.ts';
import type { Organization } from '../tenancy/domain.ts';
import { entitlementsOf, unitTotals, type EntitlementView } from '../licensing/entitlements.ts';
import type { LicenseState, LicenseStatusResult } from '../licensing/lifecycle.ts';
import { AllocationEnum } from '../catalogs/catalog.schema.ts';
import { builder } from '../schema/builder.ts';
import { OrganizationRef, ProductRef, productOfCatalog } from '../schema/refs.ts';
import { catalogOf } from '../tenancy/access.ts';
import { activateLicenseKey, licenseStatusOf, type Activation } from './license.service.ts';

const LicenseStateEnum = builder.enumType('LicenseState', {
  values: {
    NONE: { description: 'No key was ever activated: demo mode limits apply.' },
    PENDING: { description: "The key's start date lies in the future." },
    ACTIVE: {},
    RENEWAL_DUE: { description: 'Active, and the term ends within the renewal window (28 days) with no follow-up key.' },
    GRACE: { description: 'The term has ended; full function continues for the grace period (14 days).' },
    DEMO: { description: 'Term and grace are over: only demoAgentLimit agents may log in.' },
  } satisfies Record<LicenseState, unknown>,
});

const EntitlementRef = builder.objectRef<{ catalog: Catalog; view: EntitlementView }>('Entitlement').implement({
  fields: (t) => ({
    product: t.field({ type: ProductRef, resolve: (e) => productOfCatalog(e.catalog, e.view.product) }),
    quantity: t.int({ description: 'Licences bought of this product itself.', resolve: (e) => e.view.quantity }),
    total: t.int({ description: 'quantity plus what other bought products include of it.', resolve: (e) => e.view.total }),
    allocation: t.field({ type: AllocationEnum, resolve: (e) => e.view.allocation }),
    unitsTotal: t.int({ description: 'units * total, where the product has a unit.', resolve: (e) => e.view.unitsTotal }),
    emergencyQuantity: t.int({ resolve: (e) => e.view.emergencyQuantity }),
    overageAllowed: t.boolean({ resolve: (e) => e.view.overageAllowed }),
    overageGraceMinutes: t.int({ resolve: (e) => e.view.overageGraceMinutes }),
  }),
});

const UnitTotalRef = builder.objectRef<{ unit: string; total: number }>('UnitTotal').implement({
  description: 'Units summed over every entitled product with that unit (SERVER + 2 ADDITIONAL_DATABASES = 30 DATA_SOURCE).',
  fields: (t) => ({ unit: t.exposeString('unit'), total: t.exposeInt('total') }),
});

interface StatusShape {
  catalog: Catalog;
  status: LicenseStatusResult;
}

const LicenseStatusRef = builder.objectRef<StatusShape>('LicenseStatus').implement({
  fields: (t) => ({
    state: t.field({ type: LicenseStateEnum, resolve: (s) => s.status.state }),
    keyId: t.string({ nullable: true, resolve: (s) => s.status.keyId }),
    validFrom: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.status.validFrom }),
    validUntil: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.status.validUntil }),
    graceUntil: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.status.graceUntil }),
    renewalDueAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'validUntil minus 28 days: from here a renewal key is due.',
      resolve: (s) => s.status.renewalDueAt,
    }),
    cancellationDeadline: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'validUntil minus 3 months: the last day to cancel the automatic renewal.',
      resolve: (s) => s.status.cancellationDeadline,
    }),
    autoRenew: t.boolean({ resolve: (s) => s.status.autoRenew }),
    demoAgentLimit: t.int({ resolve: (s) => s.status.demoAgentLimit }),
    entitlements: t.field({
      type: [EntitlementRef],
      resolve: (s) => entitlementsOf(s.catalog, s.status.entitlements).map((view) => ({ catalog: s.catalog, view })),
    }),
    units: t.field({
      type: [UnitTotalRef],
      resolve: (s) => unitTotals(s.catalog, entitlementsOf(s.catalog, s.status.entitlements)),
    }),
    fullUse: t.boolean({
      description: 'True while the licence grants everything it lists (ACTIVE, RENEWAL_DUE, GRACE); otherwise demo limits apply.',
      resolve: (s) => s.status.fullUse,
    }),
    pendingKeyId: t.string({
      nullable: true,
      description: 'A key activated for a later start, which takes over then.',
      resolve: (s) => s.status.pendingKey?.payload.keyId ?? null,
    }),
    pendingKeyValidFrom: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (s) => (s.status.pendingKey ? new Date(s.status.pendingKey.payload.validFrom) : null),
    }),
    evaluatedAt: t.field({
      type: 'DateTime',
      description: 'The instant the state was computed for: the later of the clock and the latest time seen (R-LIFE-6).',
      resolve: (s) => s.status.effectiveAt,
    }),
  }),
});

async function statusShape(ctx: Parameters<typeof licenseStatusOf>[0], org: Organization): Promise<StatusShape> {
  return { catalog: catalogOf(ctx, org), status: await licenseStatusOf(ctx, org) };
}

builder.objectFields(OrganizationRef, (t) => ({
  license: t.field({ type: LicenseStatusRef, resolve: (org, _a, ctx) => statusShape(ctx, org) }),
}));

const ActivateLicenseKeyInput = builder.inputType('ActivateLicenseKeyInput', {
  fields: (t) => ({
    organizationId: t.id(),
    key: t.string({ description: 'The key as issued (LK1.…); whitespace and line breaks are ignored.' }),
  }),
});

const ActivateLicenseKeyPayload = builder.objectRef<Activation>('ActivateLicenseKeyPayload').implement({
  fields: (t) => ({
    // The status the activation computed for the keys it committed (no second read of the keys).
    license: t.field({ type: LicenseStatusRef, resolve: (p, _a, ctx) => ({ catalog: catalogOf(ctx, p.organization), status: p.status }) }),
    organization: t.field({ type: OrganizationRef, resolve: (p) => p.organization }),
  }),
});

builder.mutationFields((t) => ({
  activateLicenseKey: t.field({
    type: ActivateLicenseKeyPayload,
    description:
      'Checks signature, catalog and customer reference, then replaces the entitlements at once on every instance (R-KEY-3, R-KEY-4). A refused key changes nothing; the error code is INVALID_LICENSE_KEY and extensions.rule names the failed check.',
    args: { input: t.arg({ type: ActivateLicenseKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const activation = await activateLicenseKey(ctx, input);
      // Fields read through the payload's organization read after commit: what every instance now sees.
      ctx.loaders.licenseKeys.clear(activation.organization.id);
      return activation;
    },
  }),
}));
