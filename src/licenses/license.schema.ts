import type { Catalog } from '../catalogs/types.ts';
import type { Organization } from '../tenancy/domain.ts';
import { entitlementsOf, unitTotals, type EntitlementView } from '../licensing/entitlements.ts';
import type { LicenseState, LicenseStatusResult } from '../licensing/lifecycle.ts';
import { AllocationEnum } from '../catalogs/catalog.schema.ts';
import { builder } from '../schema/builder.ts';
import { CHANGES_DESCRIPTION, ChangeReportRef, DRY_RUN_DESCRIPTION, selectsChanges } from '../reservations/reservations.schema.ts';
import { type ChangeReport, reachableOrganization, withChanges } from '../reservations/what-if.service.ts';
import { OrganizationRef, ProductRef, productOfCatalog } from '../schema/refs.ts';
import { catalogOf } from '../tenancy/access.ts';
import { activateLicenseKey, licenseStatusOf, type Activation } from './license.service.ts';
import { keyHistory, type KeyHistoryEntry, type KeyHistoryState } from './key-history.ts';

const LicenseStateEnum = builder.enumType('LicenseState', {
  description: "Where the organization's licence is in its life (R-LIFE): ACTIVE → RENEWAL_DUE → GRACE → DEMO, or PENDING, NONE.",
  values: {
    NONE: { description: 'No key was ever activated: demo mode limits apply.' },
    PENDING: { description: "The key's start date lies in the future." },
    ACTIVE: { description: 'Within the term, outside the renewal window or with a follow-up key: everything licensed works.' },
    RENEWAL_DUE: { description: 'Active, and the term ends within the renewal window (28 days) with no follow-up key.' },
    GRACE: { description: 'The term has ended; full function continues for the grace period (14 days).' },
    DEMO: { description: 'Term and grace are over: only demoAgentLimit agents may log in.' },
  } satisfies Record<LicenseState, unknown>,
});

const EntitlementRef = builder.objectRef<{ catalog: Catalog; view: EntitlementView }>('Entitlement').implement({
  description: 'What the licence key grants of one product: quantities, allocation, emergency seats and overage.',
  fields: (t) => ({
    product: t.field({
      type: ProductRef,
      description: 'The entitled product.',
      resolve: (e) => productOfCatalog(e.catalog, e.view.product),
    }),
    quantity: t.int({ description: 'Licences bought of this product itself.', resolve: (e) => e.view.quantity }),
    total: t.int({ description: 'quantity plus what other bought products include of it.', resolve: (e) => e.view.total }),
    allocation: t.field({
      type: AllocationEnum,
      description: "The allocation the key chose, or the product's default.",
      resolve: (e) => e.view.allocation,
    }),
    unitsTotal: t.int({ description: 'units * total, where the product has a unit.', resolve: (e) => e.view.unitsTotal }),
    emergencyQuantity: t.int({
      description: 'Emergency seats on top of the regular ones, taken when those are full (R-EMER-1); 0: none.',
      resolve: (e) => e.view.emergencyQuantity,
    }),
    overageAllowed: t.boolean({
      description: 'Whether sessions beyond capacity and emergency are granted as OVERAGE (R-OVER-1).',
      resolve: (e) => e.view.overageAllowed,
    }),
    overageGraceMinutes: t.int({
      description: 'Minutes an overage episode may last without being billed (R-OVER-1), 0..10080.',
      resolve: (e) => e.view.overageGraceMinutes,
    }),
  }),
});

const UnitTotalRef = builder.objectRef<{ unit: string; total: number }>('UnitTotal').implement({
  description: 'Units summed over every entitled product with that unit (SERVER + 2 ADDITIONAL_DATABASES = 30 DATA_SOURCE).',
  fields: (t) => ({
    unit: t.exposeString('unit', { description: 'The unit, e.g. CHANNEL or DATA_SOURCE.' }),
    total: t.exposeInt('total', { description: 'Units granted in all, summed over the products with this unit.' }),
  }),
});

interface StatusShape {
  catalog: Catalog;
  status: LicenseStatusResult;
}

const LicenseStatusRef = builder.objectRef<StatusShape>('LicenseStatus').implement({
  description: "The organization's licence now: state, the governing key's dates, and what it grants (R-LIFE, R-KEY-4).",
  fields: (t) => ({
    state: t.field({ type: LicenseStateEnum, description: 'The lifecycle state at evaluatedAt.', resolve: (s) => s.status.state }),
    keyId: t.string({
      nullable: true,
      description: 'Id of the governing key (or of the pending one when none governs yet); null: no key activated.',
      resolve: (s) => s.status.keyId,
    }),
    validFrom: t.field({
      type: 'DateTime',
      nullable: true,
      description: "Start of the key's term; null: no key.",
      resolve: (s) => s.status.validFrom,
    }),
    validUntil: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'End of the term (12 months after validFrom unless the key says otherwise, R-LIFE-1); null: no key.',
      resolve: (s) => s.status.validUntil,
    }),
    graceUntil: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'End of the grace period after validUntil (14 days by default, R-LIFE-4); null: no key.',
      resolve: (s) => s.status.graceUntil,
    }),
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
    autoRenew: t.boolean({
      description: "The key's automatic-renewal flag (R-LIFE-3); false without a key.",
      resolve: (s) => s.status.autoRenew,
    }),
    demoAgentLimit: t.int({
      description: 'Sessions allowed at once when the licence is not in full use (DEMO, NONE, PENDING; R-DEMO-1); 2 by default.',
      resolve: (s) => s.status.demoAgentLimit,
    }),
    entitlements: t.field({
      type: [EntitlementRef],
      description: "The key's entitlements, one per product; empty without a key.",
      resolve: (s) => entitlementsOf(s.catalog, s.status.entitlements).map((view) => ({ catalog: s.catalog, view })),
    }),
    units: t.field({
      type: [UnitTotalRef],
      description: 'Units granted per unit name, over every entitled product that has a unit.',
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
      description: 'When the pending key takes over; null when there is none.',
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
  license: t.field({
    type: LicenseStatusRef,
    description: "The organization's licence state, dates and entitlements, evaluated now.",
    resolve: (org, _a, ctx) => statusShape(ctx, org),
  }),
}));

const ActivateLicenseKeyInput = builder.inputType('ActivateLicenseKeyInput', {
  description: 'A licence key for an organization.',
  fields: (t) => ({
    organizationId: t.id({ description: 'The organization the key is for; its catalog and customer reference must match.' }),
    key: t.string({ description: 'The key as issued (LK1.…); whitespace and line breaks are ignored.' }),
    dryRun: t.boolean({ required: false, description: DRY_RUN_DESCRIPTION }),
  }),
});

const ActivateLicenseKeyPayload = builder.objectRef<Activation & { changes: ChangeReport }>('ActivateLicenseKeyPayload').implement({
  description: 'Result of activateLicenseKey.',
  fields: (t) => ({
    changes: t.field({
      type: ChangeReportRef,
      description: `${CHANGES_DESCRIPTION} Per product: users gaining and losing a licence, the pools' new capacities, seats in use beyond them.`,
      resolve: (p) => p.changes,
    }),
    // The status the activation computed for the keys it committed (no second read of the keys).
    license: t.field({
      type: LicenseStatusRef,
      description: 'The licence state with the new key committed.',
      resolve: (p, _a, ctx) => ({ catalog: catalogOf(ctx, p.organization), status: p.status }),
    }),
    organization: t.field({
      type: OrganizationRef,
      description: 'The organization, read after the activation.',
      resolve: (p) => p.organization,
    }),
  }),
});

builder.mutationFields((t) => ({
  activateLicenseKey: t.field({
    type: ActivateLicenseKeyPayload,
    description:
      'Checks signature, catalog and customer reference, then replaces the entitlements at once on every instance (R-KEY-3, R-KEY-4). A refused key changes nothing; the error code is INVALID_LICENSE_KEY and extensions.rule names the failed check.',
    args: { input: t.arg({ type: ActivateLicenseKeyInput, required: true, description: 'Organization and key.' }) },
    resolve: async (_root, { input }, ctx, info) => {
      const { result: activation, changes } = await withChanges(
        ctx,
        reachableOrganization(ctx, input.organizationId),
        input.dryRun ?? false,
        (c) => activateLicenseKey(c, input),
        { report: selectsChanges(info) },
      );
      // Fields read through the payload's organization read after commit: what every instance now sees.
      ctx.loaders.licenseKeys.clear(activation.organization.id);
      return { ...activation, changes };
    },
  }),
}));

const KeyHistoryStateEnum = builder.enumType('LicenseKeyState', {
  description: 'Where an activated licence key stands now (R-KEY-4).',
  values: {
    GOVERNING: { description: 'Its entitlements apply: the latest activated key that has started, term or grace not over.' },
    PENDING: { description: 'It starts later and takes over then.' },
    SUPERSEDED: { description: 'A later activated key replaced it; it never governs again.' },
    EXPIRED: { description: 'It is the latest started key, but its term and grace are over (demo mode, R-LIFE-4).' },
  } satisfies Record<KeyHistoryState, unknown>,
});

const LicenseKeyActivationRef = builder.objectRef<KeyHistoryEntry>('LicenseKeyActivation').implement({
  description: 'One licence key the organization activated, with its term and its state now (never its payload or signature).',
  fields: (t) => ({
    keyId: t.exposeString('keyId', { description: "The key's id, as LicenseStatus.keyId names it." }),
    state: t.field({ type: KeyHistoryStateEnum, description: 'GOVERNING, PENDING, SUPERSEDED or EXPIRED.', resolve: (k) => k.state }),
    activatedAt: t.field({ type: 'DateTime', description: 'When it was activated.', resolve: (k) => k.activatedAt }),
    activatedBy: t.exposeString('activatedBy', { description: 'Who activated it: operator, or token:<id> of the ADMIN token.' }),
    validFrom: t.field({ type: 'DateTime', description: 'Start of its term.', resolve: (k) => k.term.validFrom }),
    validUntil: t.field({ type: 'DateTime', description: 'End of its term (exclusive).', resolve: (k) => k.term.validUntil }),
    graceUntil: t.field({ type: 'DateTime', description: 'End of its grace period (exclusive).', resolve: (k) => k.term.graceUntil }),
  }),
});

builder.objectFields(OrganizationRef, (t) => ({
  licenseKeys: t.field({
    type: [LicenseKeyActivationRef],
    description: 'Every licence key the organization activated, the latest activation first, with its state now (R-KEY-4).',
    resolve: async (org, _a, ctx) => keyHistory(org, await ctx.loaders.licenseKeys.load(org.id), ctx.clock.now(), ctx.caches.parsedKeys),
  }),
}));
