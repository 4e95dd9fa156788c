import type { GraphQLResolveInfo } from 'graphql';
import { builder } from '../schema/builder.ts';
import { type SeatBoundResult, setSeatBound } from './reservations.service.ts';
import type { ChangeReport, LicenceChange, PoolChange } from './what-if.service.ts';

/* Seat reservations and caps per site and configuration group (R-RES): the setSeatBound mutation. */

const SetSeatBoundInput = builder.inputType('SetSeatBoundInput', {
  description:
    'A reservation and cap of one concurrent product (seat or channel feature) on a site or a configuration group (R-RES-1 … R-RES-5). Give exactly one of siteId and configurationGroupId; reserved 0 and cap null remove the bound.',
  fields: (t) => ({
    product: t.string({ required: true, description: 'The concurrent product, e.g. AGENT_SEAT or VOICE.' }),
    siteId: t.id({ required: false, description: 'The site the bound is for.' }),
    configurationGroupId: t.id({ required: false, description: 'The configuration group the bound is for (within its site).' }),
    reserved: t.int({
      required: false,
      description:
        "Seats of the pool's regular capacity kept for the unit's members (default 0). A group's reservations lie within its site's; the sites' within the capacity (R-RES-1, R-RES-2).",
    }),
    cap: t.int({
      required: false,
      description: 'Most seats its members hold at once, emergency and overage included (R-RES-5); null (default): no cap.',
    }),
    dryRun: t.boolean({ required: false, description: 'Report what would change, change nothing.' }),
  }),
});

const SetSeatBoundPayload = builder.objectRef<SeatBoundResult>('SetSeatBoundPayload').implement({
  description: 'Result of setSeatBound: the bound as it is (or would be, with dryRun) and the seats its unit holds.',
  fields: (t) => ({
    applied: t.exposeBoolean('applied', { description: 'False for a dry run: nothing was changed.' }),
    product: t.exposeString('product', { description: 'The product code of the pool.' }),
    siteId: t.exposeID('siteId', { description: 'The site of the bound (for a group: its site).' }),
    configurationGroupId: t.id({ nullable: true, description: "The group of the bound; null: the site's.", resolve: (r) => r.groupId }),
    reserved: t.exposeInt('reserved', { description: 'Seats reserved for the unit.' }),
    cap: t.exposeInt('cap', { nullable: true, description: 'The cap; null: none.' }),
    inUse: t.exposeInt('inUse', { description: 'Seats its members hold now.' }),
    overCap: t.exposeInt('overCap', {
      description: 'Seats held beyond the new cap: their sessions go on, no member gets a new seat until below it.',
    }),
  }),
});

builder.mutationFields((t) => ({
  setSeatBound: t.field({
    type: SetSeatBoundPayload,
    description:
      'Sets the reservation and cap of a concurrent product on a site or configuration group (R-RES-1 … R-RES-5), enforced by every session start. Refused, naming the numbers, when reservations would exceed the site or the pool. dryRun reports the same and changes nothing.',
    args: { input: t.arg({ type: SetSeatBoundInput, required: true, description: 'Unit, product, reservation, cap and dryRun.' }) },
    resolve: (_root, { input }, ctx) => setSeatBound(ctx, input),
  }),
}));

/* What-if for every change: the report a mutation's `changes` field gives, and the dryRun input field. */

/** The description of the `changes` field every what-if mutation payload has. */
export const CHANGES_DESCRIPTION =
  'What the change does (or, with dryRun, would do): licences gained and lost, pools resized, sessions ended (R-WHATIF-1).';

/** The description of the `dryRun` input field of every what-if mutation. */
export const DRY_RUN_DESCRIPTION = "Report what would change (the payload's changes), change nothing (R-WHATIF-1).";

const LicenceChangeRef = builder.objectRef<LicenceChange>('LicenceChange').implement({
  description: 'A user gaining or losing a granted licence of one product.',
  fields: (t) => ({
    userId: t.exposeID('userId', { description: 'The user.' }),
    product: t.exposeString('product', { description: 'The product code.' }),
  }),
});

const PoolChangeRef = builder.objectRef<PoolChange>('PoolChange').implement({
  description: 'A concurrent pool whose size changes, or whose sessions beyond its size do.',
  fields: (t) => ({
    product: t.exposeString('product', { description: 'The product code of the pool.' }),
    capacityBefore: t.exposeInt('capacityBefore', { description: 'Regular seats before the change.' }),
    capacityAfter: t.exposeInt('capacityAfter', { description: 'Regular seats after the change.' }),
    emergencyCapacityBefore: t.exposeInt('emergencyCapacityBefore', { description: 'Emergency seats before the change.' }),
    emergencyCapacityAfter: t.exposeInt('emergencyCapacityAfter', { description: 'Emergency seats after the change.' }),
    inUse: t.exposeInt('inUse', { description: 'Seats in use after the change.' }),
    sessionsBeyond: t.exposeInt('sessionsBeyond', {
      description:
        'Seats in use beyond capacity + emergency after the change (overage not allowed): those sessions go on, no new seat is granted until below.',
    }),
  }),
});

const EndedSessionRef = builder.objectRef<{ sessionId: string; userId: string }>('EndedSessionChange').implement({
  description: 'An open session the change ends.',
  fields: (t) => ({
    sessionId: t.exposeID('sessionId', { description: 'The session.' }),
    userId: t.exposeID('userId', { description: 'Its user.' }),
  }),
});

export const ChangeReportRef = builder.objectRef<ChangeReport>('ChangeReport').implement({
  description:
    'The consequences of a change (what-if): read in its transaction before and after it. With dryRun the transaction is rolled back, so the preview is what the real call does from the same state.',
  fields: (t) => ({
    applied: t.exposeBoolean('applied', { description: 'False for a dry run: nothing was changed.' }),
    licencesGained: t.field({
      type: [LicenceChangeRef],
      description: 'Licences users gain (GRANTED after, not before).',
      resolve: (r) => r.licencesGained,
    }),
    licencesLost: t.field({
      type: [LicenceChangeRef],
      description: 'Licences users lose (GRANTED before, not after).',
      resolve: (r) => r.licencesLost,
    }),
    pools: t.field({ type: [PoolChangeRef], description: 'Pools whose size or excess changes.', resolve: (r) => r.pools }),
    sessionsEnded: t.field({ type: [EndedSessionRef], description: 'Open sessions the change ends.', resolve: (r) => r.sessionsEnded }),
  }),
});

/** Whether the mutation's selection asks for `changes` (a fragment counts as asking): a real change reads its report only then. */
export function selectsChanges(info: GraphQLResolveInfo): boolean {
  return info.fieldNodes.some((node) =>
    (node.selectionSet?.selections ?? []).some((s) => s.kind !== 'Field' || s.name.value === 'changes'),
  );
}
