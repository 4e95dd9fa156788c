import { authorize, requireAuthenticated } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import { notFound } from '../errors.ts';
import { LicenseEventRef } from '../events/events.schema.ts';
import { isId } from '../ids.ts';
import { builder } from '../schema/builder.ts';
import { SeatUsageRef, seatUsageOf } from '../sessions/sessions.schema.ts';
import { catalogOf } from '../tenancy/access.ts';
import { findOrganization } from '../tenancy/tenancy.repository.ts';

builder.subscriptionType({});

/** Subscribing needs ADMIN, SUPERVISOR or INTEGRATOR of the organization (R-SEC-2: another organization's id is NOT_FOUND). */
async function subscribable(ctx: Context, organizationId: string) {
  requireAuthenticated(ctx.viewer);
  const org = isId(organizationId) ? await findOrganization(ctx.db, organizationId) : undefined;
  if (!org) throw notFound('organization', organizationId);
  authorize(ctx.viewer, org.id, 'subscribe', 'organization', organizationId);
  return org;
}

builder.subscriptionFields((t) => ({
  seatUsage: t.field({
    type: SeatUsageRef,
    description: "The organization's pools, sent at once on subscribe and again after every change (coalesced in bursts; the last state is always sent).",
    args: { organizationId: t.arg.id({ required: true }) },
    subscribe: async function* (_root, args, ctx) {
      const org = await subscribable(ctx, args.organizationId);
      const catalog = catalogOf(ctx, org);
      // Registered before the first snapshot is read, so no change in between is lost.
      await ctx.live.ready();
      const channel = ctx.live.subscribeSeatUsage(org.id);
      try {
        yield await seatUsageOf(ctx, org.id);
        for await (const snapshot of channel) yield { catalog, snapshot };
      } finally {
        channel.close();
      }
    },
    resolve: (payload) => payload,
  }),
  licenseEvents: t.field({
    type: LicenseEventRef,
    description: 'Every licence event of the organization as it happens, from any gateway instance.',
    args: { organizationId: t.arg.id({ required: true }) },
    subscribe: async function* (_root, args, ctx) {
      const org = await subscribable(ctx, args.organizationId);
      await ctx.live.ready();
      const channel = ctx.live.subscribeEvents(org.id);
      try {
        for await (const event of channel) {
          // A subscription lives long: each event gets fresh loaders (users change meanwhile).
          ctx.loaders.user.clearAll();
          yield event;
        }
      } finally {
        channel.close();
      }
    },
    resolve: (payload) => payload,
  }),
}));
