import type { Catalog, ProductKind } from '../catalogs/types.ts';
import { AllocationEnum, ProductKindEnum } from '../catalogs/catalog.schema.ts';
import type { Context } from '../context.ts';
import type { UserSettingRow } from '../db/schema.ts';
import type { Organization, User, ConfigurationGroup, Team } from '../tenancy/domain.ts';
import type { UserLicense } from '../licensing/allocation.ts';
import { explainLicense } from '../licensing/explain.ts';
import { EXPLAIN_STEP_CODES, type ExplainParameter, type ExplainStep } from '../licensing/explain-steps.ts';
import { addOnCoverage, licenseMapping, siteOverview, teamAnalytics } from '../licensing/reports.ts';
import * as licensingWarnings from '../licensing/warnings.ts';
import type { Warning } from '../licensing/warnings.ts';
import { seatFigures } from '../sessions/usage.service.ts';
import { SeatUnitUsageRef } from '../sessions/sessions.schema.ts';
import { badInput } from '../errors.ts';
import { builder } from '../schema/builder.ts';
import { CHANGES_DESCRIPTION, ChangeReportRef, DRY_RUN_DESCRIPTION, selectsChanges } from '../reservations/reservations.schema.ts';
import { seatBoundsOfUser } from '../reservations/reservations.service.ts';
import { type ChangeReport, organizationOfGroup, organizationOfUser, withChanges } from '../reservations/what-if.service.ts';
import { must } from '../schema/loaders.ts';
import {
  ConfigurationGroupRef,
  OrganizationRef,
  ProductRef,
  productOfCatalog,
  SiteRef,
  TeamRef,
  UserRef,
  WarningRef,
  type WarningShape,
} from '../schema/refs.ts';
import { teamsOfOrganization } from '../tenancy/tenancy.repository.ts';
import { holderLicensesOf, licensesWithHolderFacts } from '../second-factor/security-keys.service.ts';
import { settingsOfUsers } from './assignments.repository.ts';
import * as service from './assignments.service.ts';
import type { AllocationView } from '../allocation/view.ts';

const AssignmentSourceEnum = builder.enumType('AssignmentSource', {
  description: 'Why a user has a product (R-NAMED-1).',
  values: {
    DIRECT: { description: 'Assigned to the user directly.' },
    GROUP: { description: "Required by a function of the user's configuration group." },
    INCLUDED: { description: 'Implied by another product the user holds (a bundle).' },
  },
});

const AssignmentStatusEnum = builder.enumType('AssignmentStatus', {
  description: 'Whether a product configured for a user is actually granted.',
  values: {
    GRANTED: { description: 'The user holds the licence.' },
    UNLICENSED: {
      description:
        'Configured, but not held: the pool has too few licences and the user ranks beyond it, the licence is not in full use, or the user is not ACTIVE (PREPARING and INACTIVE users hold no licence, R-TEN-4; see User.explain).',
    },
    MISSING_PREREQUISITE: { description: 'Configured, but a prerequisite is not met.' },
  },
});

interface LicenseShape {
  catalog: Catalog;
  license: UserLicense;
}

const UserLicenseRef = builder.objectRef<LicenseShape>('UserLicense').implement({
  description: 'A product configured for a user (directly, by group or by bundle) and whether it is granted.',
  fields: (t) => ({
    product: t.field({
      type: ProductRef,
      description: 'The product configured for the user.',
      resolve: (l) => productOfCatalog(l.catalog, l.license.product),
    }),
    source: t.field({ type: AssignmentSourceEnum, description: 'Why the user has it.', resolve: (l) => l.license.source }),
    status: t.field({ type: AssignmentStatusEnum, description: 'Granted, or why not.', resolve: (l) => l.license.status }),
    rank: t.int({
      nullable: true,
      description: "Where several users compete for too few licences: the user's place in the fixed order (1 = first).",
      resolve: (l) => l.license.rank,
    }),
    coveredBy: t.field({
      type: ProductRef,
      nullable: true,
      description: 'The bundle that provides this product without using one of its licences (Elite → Workforce Management).',
      resolve: (l) => (l.license.coveredBy ? productOfCatalog(l.catalog, l.license.coveredBy) : null),
    }),
    configuredAt: t.field({
      type: 'DateTime',
      description: 'When the product was first configured for the user: the fixed order.',
      resolve: (l) => l.license.configuredAt,
    }),
  }),
});

const ExplanationStepCodeEnum = builder.enumType('ExplanationStepCode', {
  description:
    'What a step of User.explain says (R-EXPLAIN-1), stable across releases: a front end renders and translates a step from its code and parameters. The parameters each code carries are named in brackets.',
  values: EXPLAIN_STEP_CODES,
});

const ExplanationParameterRef = builder.objectRef<ExplainParameter>('ExplanationParameter').implement({
  description: 'One figure of an explanation step, e.g. rank = 2 (R-EXPLAIN-1).',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The parameter, as ExplanationStepCode names it (rank, product, since …).' }),
    value: t.exposeString('value', { description: 'Its value as text: numbers in decimal, instants in ISO 8601, product codes.' }),
  }),
});

const ExplanationStepRef = builder.objectRef<ExplainStep>('ExplanationStep').implement({
  description: 'One step of User.explain: a stable code, the sentence of Explanation.steps and its figures (R-EXPLAIN-1).',
  fields: (t) => ({
    code: t.field({ type: ExplanationStepCodeEnum, description: 'What the step says.', resolve: (s) => s.code }),
    text: t.exposeString('text', { description: 'The step in English: the same sentence as Explanation.steps.' }),
    parameters: t.field({
      type: [ExplanationParameterRef],
      description: 'The figures the sentence is made of, by name.',
      resolve: (s) => s.parameters,
    }),
  }),
});

const ExplanationRef = builder
  .objectRef<{ catalog: Catalog; product: string; granted: boolean; steps: string[]; details: ExplainStep[] }>('Explanation')
  .implement({
    description: 'Why a user does or does not hold a product (User.explain).',
    fields: (t) => ({
      product: t.field({ type: ProductRef, description: 'The product explained.', resolve: (e) => productOfCatalog(e.catalog, e.product) }),
      granted: t.exposeBoolean('granted', { description: 'Whether the user holds it now.' }),
      steps: t.exposeStringList('steps', {
        description: "The checks made, in order, each a sentence: licence state, entitlement, the user's licence.",
      }),
      details: t.field({
        type: [ExplanationStepRef],
        description: 'The same steps in the same order, each with a stable code and its parameters (R-EXPLAIN-1).',
        resolve: (e) => e.details,
      }),
    }),
  });

const UserSettingRef = builder.objectRef<{ catalog: Catalog; row: UserSettingRow }>('UserSetting').implement({
  description: "A personal setting owned by one of the user's functions (voicemail box, fax reception …); deleted with the function.",
  fields: (t) => ({
    function: t.field({
      type: ProductRef,
      description: 'The function (product) that owns the setting.',
      resolve: (s) => productOfCatalog(s.catalog, s.row.product_code),
    }),
    name: t.string({
      description: "The setting's name, one the catalog lists for the product (e.g. voicemailBox).",
      resolve: (s) => s.row.name,
    }),
    value: t.string({ description: 'The stored value, at most 4000 characters.', resolve: (s) => s.row.value }),
    updatedAt: t.field({ type: 'DateTime', description: 'When the value was last set.', resolve: (s) => s.row.updated_at }),
  }),
});

const allocationOf = (ctx: Context, organizationId: string) => ctx.loaders.allocation.load(organizationId);

/** A warning of licensing/warnings.ts as the API shows it: its product and team as objects. */
function shapeOf(catalog: Catalog, warning: Warning, about: { user?: User; team?: Team } = {}): WarningShape {
  return {
    code: warning.code,
    message: warning.message,
    ...(warning.product !== null && { product: productOfCatalog(catalog, warning.product) }),
    ...about,
  };
}

/**
 * Users' warnings as the API shows them (none unless ACTIVE), from their
 * licences as their recorded facts leave them (a missing security key is an
 * unmet prerequisite, R-2FA-2): one query for the facts, whatever the number
 * of users.
 */
export async function warningsOfUsers(ctx: Context, view: AllocationView, users: readonly User[]): Promise<WarningShape[]> {
  const licensesOf = await holderLicensesOf(
    ctx,
    view,
    users.map((u) => u.id),
  );
  return users.flatMap((user) =>
    licensingWarnings.warningsOfUser(view.result, user, licensesOf(user.id)).map((w) => shapeOf(view.catalog, w, { user })),
  );
}

builder.objectFields(UserRef, (t) => ({
  licenses: t.field({
    type: [UserLicenseRef],
    description: 'Every product configured for the user or included by one, with its status and place in the fixed order.',
    resolve: async (user, _a, ctx) => {
      const view = await allocationOf(ctx, user.organization_id);
      // A licence whose holder lacks a recorded fact (security key, R-2FA-2) shows its unmet prerequisite.
      const licenses = await licensesWithHolderFacts(ctx, view.catalog, user, view.result.users.get(user.id) ?? []);
      return licenses.map((license) => ({ catalog: view.catalog, license }));
    },
  }),
  warnings: t.field({
    type: [WarningRef],
    description: "The user's licence warnings (UNLICENSED, MISSING_PREREQUISITE …); always empty unless the user is ACTIVE.",
    resolve: async (user, _a, ctx) => warningsOfUsers(ctx, await allocationOf(ctx, user.organization_id), [user]),
  }),
  explain: t.field({
    type: ExplanationRef,
    description: 'Why the user does or does not hold the product, step by step.',
    args: { product: t.arg.string({ required: true, description: "A product code of the organization's catalog." }) },
    resolve: async (user, args, ctx) => {
      const view = await allocationOf(ctx, user.organization_id);
      const product = view.catalog.products.find((p) => p.code === args.product);
      if (!product) throw badInput('product', `unknown product "${args.product}" in catalog ${view.catalog.code}`);
      const license = (await licensesWithHolderFacts(ctx, view.catalog, user, view.result.users.get(user.id) ?? [])).find(
        (l) => l.product === product.code,
      );
      const explanation = explainLicense({
        state: view.status.state,
        product: product.code,
        entitlement: view.entitlements.find((e) => e.product === product.code),
        license,
        // R-RES: the reservations and caps of the user's site and group, for a concurrent licence the user may use.
        seatBounds: license?.decision.outcome === 'CONCURRENT_ELIGIBLE' ? await seatBoundsOfUser(ctx, user, product.code) : undefined,
      });
      return { catalog: view.catalog, product: product.code, ...explanation };
    },
  }),
  settings: t.field({
    type: [UserSettingRef],
    description: "The user's personal settings of their functions (voicemail box, fax reception …).",
    resolve: async (user, _a, ctx) => {
      const view = await allocationOf(ctx, user.organization_id);
      return (await settingsOfUsers(ctx.db, [user.id])).map((row) => ({ catalog: view.catalog, row }));
    },
  }),
}));

const SiteLicenseRowRef = builder
  .objectRef<{ catalog: Catalog; product: string; required: number; granted: number; shortage: number }>('SiteLicenseRow')
  .implement({
    description: 'One product of a site overview (R-UNDER-2).',
    fields: (t) => ({
      product: t.field({
        type: ProductRef,
        description: 'The product this row counts.',
        resolve: (r) => productOfCatalog(r.catalog, r.product),
      }),
      required: t.exposeInt('required', { description: "The site's active users configured for the product." }),
      granted: t.exposeInt('granted', { description: 'Those of them that hold it.' }),
      shortage: t.exposeInt('shortage', { description: 'required - granted: users that go without.' }),
    }),
  });

builder.objectFields(SiteRef, (t) => ({
  licenseOverview: t.field({
    type: [SiteLicenseRowRef],
    description: "Per product, for the site's active users: how many need it, hold it, and go without (R-UNDER-2).",
    resolve: async (site, _a, ctx) => {
      const view = await allocationOf(ctx, site.organization_id);
      const users = view.users.filter((u) => u.site_id === site.id);
      return siteOverview(view.catalog, view.result, users).map((r) => ({ catalog: view.catalog, ...r }));
    },
  }),
}));

const AnalyticsAccessRef = builder
  .objectRef<{ allowed: boolean; membersRequiringLicense: number; unlicensedMembers: User[] }>('AnalyticsAccess')
  .implement({
    description: "Whether a team's analytics may be used (R-ANALYTICS-1).",
    fields: (t) => ({
      allowed: t.exposeBoolean('allowed', {
        description: 'True when every member but the leader holds a granted analytics licence (always true where the catalog needs none).',
      }),
      membersRequiringLicense: t.exposeInt('membersRequiringLicense', {
        description: 'Team members that need a licence (the leader needs none).',
      }),
      unlicensedMembers: t.field({
        type: [UserRef],
        description: 'Members (leader excepted) without a granted analytics licence.',
        resolve: (a) => a.unlicensedMembers,
      }),
    }),
  });

function analyticsOf(view: AllocationView, team: Team) {
  const members = view.users.filter((u) => u.team_id === team.id);
  const a = teamAnalytics(view.catalog, view.result, { leaderId: team.leader_id, memberIds: members.map((m) => m.id) });
  return {
    allowed: a.allowed,
    membersRequiringLicense: a.membersRequiringLicense,
    unlicensedMembers: members.filter((m) => a.unlicensedMemberIds.includes(m.id)),
  };
}

builder.objectFields(TeamRef, (t) => ({
  analyticsAccess: t.field({
    type: AnalyticsAccessRef,
    description: 'Team analytics are accessible only if every member except the leader holds a granted analytics licence (R-ANALYTICS-1).',
    resolve: async (team, _a, ctx) => analyticsOf(await allocationOf(ctx, team.organization_id), team),
  }),
}));

interface MappingShape {
  catalog: Catalog;
  organizationId: string;
  row: ReturnType<typeof licenseMapping>[number];
}

const LicenseMappingRowRef = builder.objectRef<MappingShape>('LicenseMappingRow').implement({
  description: 'One row of the licence mapping screen.',
  fields: (t) => ({
    product: t.field({
      type: ProductRef,
      description: 'The product of this row.',
      resolve: (m) => productOfCatalog(m.catalog, m.row.product),
    }),
    licenseType: t.field({
      type: AllocationEnum,
      description:
        "The licence type bought (R-MAP-2): the allocation the governing licence key gives the product (a Zoom PREMIUM bought CONCURRENT reads CONCURRENT), the catalog's default where no key chose one. product.allocation stays the catalog's default.",
      resolve: (m) => m.row.licenseType,
    }),
    total: t.int({ description: 'Bought base licences, bundle-included ones counted once.', resolve: (m) => m.row.total }),
    inUse: t.int({
      description: 'Base licences held by active users, and those still bound by the reassignment cool-down.',
      resolve: (m) => m.row.inUse,
    }),
    reusable: t.int({
      description: 'Licences assigned within the last 90 days that may be reassigned once more now.',
      resolve: (m) => m.row.reusable,
    }),
    available: t.int({ description: 'total - inUse + reusable', resolve: (m) => m.row.available }),
    concurrentTotal: t.int({
      description: 'For concurrent products: regular seats bought; 0 otherwise.',
      resolve: (m) => m.row.concurrentTotal,
    }),
    concurrentInUse: t.int({
      description: 'For concurrent products: regular seats held by open sessions now.',
      resolve: (m) => m.row.concurrentInUse,
    }),
    concurrentAvailable: t.int({
      description: 'concurrentTotal - concurrentInUse, never below 0.',
      resolve: (m) => m.row.concurrentAvailable,
    }),
    emergencyTotal: t.int({
      description: 'For concurrent products: emergency seats of the key (R-EMER-1); 0 otherwise.',
      resolve: (m) => m.row.emergencyTotal,
    }),
    emergencyInUse: t.int({ description: 'Emergency seats held by open sessions now.', resolve: (m) => m.row.emergencyInUse }),
    emergencyPeakThisPeriod: t.int({
      description: 'The most emergency licences in use at once during the current billing period: the billed figure.',
      resolve: (m) => m.row.emergencyPeakThisPeriod,
    }),
    emergencyAvailable: t.int({ description: 'emergencyTotal - emergencyInUse, never below 0.', resolve: (m) => m.row.emergencyAvailable }),
    unitsTotal: t.int({
      description: 'Units the licences unlock (total * unitsPerLicense); 0 for products without a unit.',
      resolve: (m) => m.row.unitsTotal,
    }),
    units: t.field({
      type: [SeatUnitUsageRef],
      description:
        "For concurrent products: per site and configuration group, reservation, cap and seats in use, the units seatUsage's pool lists (R-RES-6); empty otherwise or while the pool has no bound and no seat in use.",
      resolve: async (m, _a, ctx) =>
        m.row.licenseType === 'CONCURRENT' ? ((await ctx.loaders.seatUnits.load(m.organizationId)).get(m.row.product) ?? []) : [],
    }),
  }),
});

const AddOnCoverageRef = builder
  .objectRef<{ catalog: Catalog; addOn: string; usersRequiring: number; coveredByBundle: number; purchased: number; shortfall: number }>(
    'AddOnCoverage',
  )
  .implement({
    description: 'How far bundles and purchases cover the users of one add-on (R-ADDON-1).',
    fields: (t) => ({
      addOn: t.field({
        type: ProductRef,
        description: 'The add-on product (e.g. WORKFORCE_MANAGEMENT).',
        resolve: (a) => productOfCatalog(a.catalog, a.addOn),
      }),
      usersRequiring: t.exposeInt('usersRequiring', { description: 'Users whose configuration uses the add-on.' }),
      coveredByBundle: t.exposeInt('coveredByBundle', {
        description: 'Users covered by a bundle (Elite named: every holder; Elite concurrent: up to the seat count).',
      }),
      purchased: t.exposeInt('purchased', { description: 'Add-on licences bought.' }),
      shortfall: t.exposeInt('shortfall', { description: 'Add-on licences still to buy so that every user requiring it has access.' }),
    }),
  });

/** Everything that needs an administrator's attention (licensing/warnings.ts), with its product and team as objects. */
async function organizationWarnings(ctx: Context, org: Organization): Promise<WarningShape[]> {
  const view = await allocationOf(ctx, org.id);
  const teams = view.catalog.teamAnalyticsProduct === null ? [] : await teamsOfOrganization(ctx.db, org.id);
  const membersOf = new Map<string, string[]>(teams.map((team) => [team.id, []]));
  for (const u of view.users) if (u.team_id !== null) membersOf.get(u.team_id)?.push(u.id);
  const warnings = licensingWarnings.organizationWarnings({
    catalog: view.catalog,
    status: view.status,
    entitlements: view.entitlements,
    result: view.result,
    activeUsers: view.users.filter((u) => u.status === 'ACTIVE').length,
    teams: teams.map((team) => ({
      id: team.id,
      name: team.name,
      leaderId: team.leader_id,
      memberIds: membersOf.get(team.id) ?? [],
    })),
  });
  const teamsById = new Map(teams.map((team) => [team.id, team]));
  return warnings.map((w) => {
    const team = w.teamId === null ? undefined : teamsById.get(w.teamId);
    return shapeOf(view.catalog, w, team ? { team } : {});
  });
}

builder.objectFields(OrganizationRef, (t) => ({
  licenseMapping: t.field({
    type: [LicenseMappingRowRef],
    description: 'One row per product (R-MAP-1); `kinds` filters USER / FEATURE / SYSTEM / ADDON rows.',
    args: { kinds: t.arg({ type: [ProductKindEnum], required: false, description: 'Only rows of these kinds; omitted: every kind.' }) },
    resolve: async (org, args, ctx) => {
      // Not the whole allocation: a gateway that holds none yet answers from the stored one while it is current.
      const view = await ctx.loaders.mapping.load(org.id);
      const kinds: ProductKind[] | null = args.kinds ?? null;
      const rows = licenseMapping(
        view.catalog,
        view.entitlements,
        { products: view.products },
        view.slots,
        await seatFigures(ctx, org, view.catalog),
        kinds,
      );
      return rows.map((row) => ({ catalog: view.catalog, organizationId: org.id, row }));
    },
  }),
  addOnCoverage: t.field({
    type: [AddOnCoverageRef],
    description: 'R-ADDON-1: per add-on, users using it, covered by a bundle, bought, and still to buy.',
    resolve: async (org, _a, ctx) => {
      const view = await allocationOf(ctx, org.id);
      return addOnCoverage(view.catalog, view.entitlements, view.result).map((r) => ({ catalog: view.catalog, ...r }));
    },
  }),
  warnings: t.field({
    type: [WarningRef],
    description: 'Everything about the licence that needs attention: lifecycle, shortages, prerequisites, analytics, add-ons.',
    resolve: (org, _a, ctx) => organizationWarnings(ctx, org),
  }),
}));

/* ------------------------------------------------------------ mutations */

const AssignLicenseInput = builder.inputType('AssignLicenseInput', {
  description: 'A product to assign to a user directly.',
  fields: (t) => ({
    userId: t.id({ description: 'The user to assign the product to.' }),
    product: t.string({ description: "A product code of the organization's catalog." }),
    dryRun: t.boolean({ required: false, description: DRY_RUN_DESCRIPTION }),
  }),
});
const UnassignLicenseInput = builder.inputType('UnassignLicenseInput', {
  description: 'A direct assignment to remove.',
  fields: (t) => ({
    userId: t.id({ description: 'The user who holds the direct assignment.' }),
    product: t.string({ description: 'The product code assigned directly.' }),
    dryRun: t.boolean({ required: false, description: DRY_RUN_DESCRIPTION }),
  }),
});
const MoveUsersInput = builder.inputType('MoveUsersInput', {
  description: 'Users to move into a configuration group.',
  fields: (t) => ({
    userIds: t.idList({ description: "Users of the group's site, 1..1000." }),
    configurationGroupId: t.id({ description: 'The group to move them into.' }),
    dryRun: t.boolean({ required: false, description: 'Report what would change, change nothing.' }),
  }),
});
const UpdateConfigurationGroupInput = builder.inputType('UpdateConfigurationGroupInput', {
  description: 'New functions or options of a configuration group.',
  fields: (t) => ({
    configurationGroupId: t.id({ description: 'The group to change.' }),
    functions: t.stringList({ required: false, description: 'The new full list; omitted: unchanged.' }),
    options: t.stringList({ required: false, description: 'The new full list; omitted: unchanged.' }),
    dryRun: t.boolean({ required: false, description: DRY_RUN_DESCRIPTION }),
  }),
});
const SetUserSettingInput = builder.inputType('SetUserSettingInput', {
  description: "A personal setting of one of the user's functions.",
  fields: (t) => ({
    userId: t.id({ description: 'The user; the product must be configured for them.' }),
    product: t.string({ description: 'The function that owns the setting (e.g. VOICEMAIL).' }),
    name: t.string({ description: "One of the product's settings (catalog), e.g. voicemailBox." }),
    value: t.string({ description: 'The value, at most 4000 characters.' }),
  }),
});

const AssignLicensePayload = builder
  .objectRef<{ user: User; view: AllocationView; product: string; changes: ChangeReport }>('AssignLicensePayload')
  .implement({
    description: 'Result of assignLicense.',
    fields: (t) => ({
      changes: t.field({ type: ChangeReportRef, description: CHANGES_DESCRIPTION, resolve: (p) => p.changes }),
      license: t.field({
        type: UserLicenseRef,
        description: 'The assigned product as the user now has it (GRANTED, or UNLICENSED with its rank for QUEUE products).',
        resolve: (p) => {
          const license = p.view.result.users.get(p.user.id)?.find((l) => l.product === p.product);
          if (!license) throw new Error('assigned licence missing from the allocation');
          return { catalog: p.view.catalog, license };
        },
      }),
      user: t.field({ type: UserRef, description: 'The user after the assignment.', resolve: (p) => p.user }),
    }),
  });
const UnassignLicensePayload = builder.objectRef<{ user: User; changes: ChangeReport }>('UnassignLicensePayload').implement({
  description: 'Result of unassignLicense.',
  fields: (t) => ({
    user: t.field({ type: UserRef, description: 'The user after the removal.', resolve: (p) => p.user }),
    changes: t.field({ type: ChangeReportRef, description: CHANGES_DESCRIPTION, resolve: (p) => p.changes }),
  }),
});

interface ReportRef {
  catalog: Catalog;
  userId: string;
  product: string;
}
const ReleasedLicenseRef = builder.objectRef<ReportRef>('ReleasedLicense').implement({
  description: 'A licence a user loses (or would lose, in a dry run) because a function goes (R-NAMED-4).',
  fields: (t) => ({
    user: t.field({
      type: UserRef,
      description: 'The user who loses it.',
      resolve: (r, _a, ctx) => must(ctx.loaders.user, r.userId, 'user'),
    }),
    product: t.field({ type: ProductRef, description: 'The product released.', resolve: (r) => productOfCatalog(r.catalog, r.product) }),
  }),
});
const DeletedSettingRef = builder.objectRef<ReportRef & { name: string }>('DeletedSetting').implement({
  description: 'A personal setting deleted (or to be deleted, in a dry run) with its function (R-NAMED-4).',
  fields: (t) => ({
    user: t.field({
      type: UserRef,
      description: 'The user whose setting it was.',
      resolve: (r, _a, ctx) => must(ctx.loaders.user, r.userId, 'user'),
    }),
    function: t.field({
      type: ProductRef,
      description: 'The function that owned it.',
      resolve: (r) => productOfCatalog(r.catalog, r.product),
    }),
    name: t.exposeString('name', { description: 'The setting that was (or would be) deleted.' }),
  }),
});

function reportParts(report: service.MoveReport) {
  const catalog = report.after.catalog;
  // Users of a dry run are read from the allocation: the rolled-back rows are not in the database.
  return {
    released: report.released.map((r) => ({ catalog, userId: r.userId, product: r.product })),
    deletedSettings: report.deletedSettings.map((s) => ({ catalog, userId: s.user_id, product: s.product_code, name: s.name })),
  };
}

/** Also the licence consequences of the admin API's moves and deletions (src/tenancy/admin.schema.ts). */
export const MoveUsersPayload = builder.objectRef<service.MoveReport>('MoveUsersPayload').implement({
  description: 'What moveUsers changed, or would change with dryRun.',
  fields: (t) => ({
    applied: t.exposeBoolean('applied', { description: 'False for a dry run: nothing was changed.' }),
    users: t.field({
      type: [UserRef],
      description: 'The moved users as they are (or would be) after the move.',
      resolve: (r) => r.userIds.map((id) => r.after.usersById.get(id)).filter((u): u is NonNullable<typeof u> => u !== undefined),
    }),
    released: t.field({ type: [ReleasedLicenseRef], description: 'Licences the users lose.', resolve: (r) => reportParts(r).released }),
    deletedSettings: t.field({
      type: [DeletedSettingRef],
      description: 'Personal settings deleted with the functions they lose.',
      resolve: (r) => reportParts(r).deletedSettings,
    }),
    warnings: t.field({
      type: [WarningRef],
      description: 'Warnings of the moved users after the move.',
      resolve: (r, _a, ctx) =>
        warningsOfUsers(
          ctx,
          r.after,
          r.userIds.map((id) => r.after.usersById.get(id)).filter((u): u is NonNullable<typeof u> => u !== undefined),
        ),
    }),
  }),
});

const UpdateConfigurationGroupPayload = builder
  .objectRef<service.MoveReport & { group: ConfigurationGroup; changes: ChangeReport }>('UpdateConfigurationGroupPayload')
  .implement({
    description: 'Result of updateConfigurationGroup.',
    fields: (t) => ({
      changes: t.field({ type: ChangeReportRef, description: CHANGES_DESCRIPTION, resolve: (p) => p.changes }),
      configurationGroup: t.field({ type: ConfigurationGroupRef, description: 'The group after the change.', resolve: (p) => p.group }),
      released: t.field({ type: [ReleasedLicenseRef], description: 'Licences members lost.', resolve: (r) => reportParts(r).released }),
      deletedSettings: t.field({
        type: [DeletedSettingRef],
        description: 'Personal settings deleted with the removed functions.',
        resolve: (r) => reportParts(r).deletedSettings,
      }),
    }),
  });

const SetUserSettingPayload = builder.objectRef<{ user: User }>('SetUserSettingPayload').implement({
  description: 'Result of setUserSetting.',
  fields: (t) => ({ user: t.field({ type: UserRef, description: 'The user with the setting stored.', resolve: (p) => p.user }) }),
});

/** After a write the request's cached allocation is stale, and so is the organization's revision that keys the shared cache. */
function fresh(ctx: Context): void {
  ctx.loaders.allocation.clearAll();
  ctx.loaders.mapping.clearAll();
  ctx.loaders.organization.clearAll();
  ctx.loaders.user.clearAll();
}

builder.mutationFields((t) => ({
  assignLicense: t.field({
    type: AssignLicensePayload,
    description:
      'Assigns a product directly (R-NAMED-1). Refused with the prerequisite it lacks (R-NAMED-3), when every licence of a REFUSE product is held (R-NAMED-2) or a fixed seat is taken (R-FIX-1); QUEUE products are recorded, ranked and flagged.',
    args: { input: t.arg({ type: AssignLicenseInput, required: true, description: 'User and product.' }) },
    resolve: async (_root, { input }, ctx, info) => {
      const dryRun = input.dryRun ?? false;
      const {
        result: user,
        changes,
        allocation,
      } = await withChanges(ctx, await organizationOfUser(ctx, input.userId), dryRun, (c) => service.assignLicense(c, input), {
        allocation: dryRun,
        report: selectsChanges(info),
      });
      fresh(ctx);
      return { user, view: allocation ?? (await allocationOf(ctx, user.organization_id)), product: input.product, changes };
    },
  }),
  unassignLicense: t.field({
    type: UnassignLicensePayload,
    description: 'Removes a direct assignment; refused while another product the user holds needs it.',
    args: { input: t.arg({ type: UnassignLicenseInput, required: true, description: 'User and product.' }) },
    resolve: async (_root, { input }, ctx, info) => {
      const { result: user, changes } = await withChanges(
        ctx,
        await organizationOfUser(ctx, input.userId),
        input.dryRun ?? false,
        (c) => service.unassignLicense(c, input),
        { report: selectsChanges(info) },
      );
      fresh(ctx);
      return { user, changes };
    },
  }),
  moveUsers: t.field({
    type: MoveUsersPayload,
    description:
      'Moves users into a configuration group (R-NAMED-4): licences of functions they lose are released and their personal settings for them deleted. dryRun reports the same and changes nothing.',
    args: { input: t.arg({ type: MoveUsersInput, required: true, description: 'Users, target group and dryRun.' }) },
    resolve: async (_root, { input }, ctx) => {
      const report = await service.moveUsers(ctx, input);
      fresh(ctx);
      return report;
    },
  }),
  updateConfigurationGroup: t.field({
    type: UpdateConfigurationGroupPayload,
    description:
      "Changes a group's functions or options for every member; removed functions release licences and delete settings (R-NAMED-4).",
    args: { input: t.arg({ type: UpdateConfigurationGroupInput, required: true, description: 'Group and its new lists.' }) },
    resolve: async (_root, { input }, ctx, info) => {
      const { result, changes } = await withChanges(
        ctx,
        await organizationOfGroup(ctx, input.configurationGroupId),
        input.dryRun ?? false,
        (c) => service.updateConfigurationGroup(c, input),
        { report: selectsChanges(info) },
      );
      fresh(ctx);
      return { ...result, applied: !(input.dryRun ?? false), changes };
    },
  }),
  setUserSetting: t.field({
    type: SetUserSettingPayload,
    description: 'Stores a personal setting of a function configured for the user (deleted when the function is removed).',
    args: { input: t.arg({ type: SetUserSettingInput, required: true, description: 'User, product, setting name and value.' }) },
    resolve: async (_root, { input }, ctx) => {
      const row = await service.setUserSetting(ctx, input);
      return { user: await must(ctx.loaders.user, row.user_id, 'user') };
    },
  }),
}));
