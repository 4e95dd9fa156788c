import { authorize, requireAuthenticated } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import type { LicenseEvent as EventRow } from '../events/event.ts';
import { badInput, notFound, notFoundAt } from '../errors.ts';
import { eventsAfter, eventsByIds } from '../events/events.repository.ts';
import { LicenseEventRef } from '../events/events.schema.ts';
import { isId } from '../ids.ts';
import { builder } from '../schema/builder.ts';
import { SeatUsageRef, seatUsageOf } from '../sessions/sessions.schema.ts';
import { findOrganization } from '../tenancy/tenancy.repository.ts';
import type { Channel } from './channel.ts';
import { DIRECT_DELIVERY, type DirectDelivery } from './shared-execution.ts';

/** The most events a licenseEvents subscription replays (`after`); a client further behind reads them as a page. */
export const MAX_REPLAY = 1000;

builder.subscriptionType({
  description: 'Live data over graphql-ws or SSE (R-LIVE-1), for ADMIN, SUPERVISOR and INTEGRATOR tokens and the operator.',
});

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
    description:
      "The organization's pools, sent at once on subscribe and again after every change (coalesced in bursts; the last state is always sent).",
    args: {
      organizationId: t.arg.id({
        required: true,
        description: 'The organization to watch; one the token cannot reach is NOT_FOUND (R-SEC-2).',
      }),
    },
    subscribe: async (_root, args, ctx) => {
      const org = await subscribable(ctx, args.organizationId);
      await ctx.live.ready();
      // Registered before the first snapshot is read, so no change in between is lost, and that read begins at
      // once: the hub sends this subscriber only the reads that began after it joined (hub.ts), so nothing older.
      const channel = ctx.live.subscribeSeatUsage(org.id);
      const first = seatUsageOf(ctx, org.id);
      first.catch(() => undefined); // awaited by the first next(); a failure is its error, not an unhandled rejection
      // Then the hub's snapshots: one object for all subscribers, executed once (shared-execution.ts).
      return startingWith(first, channel);
    },
    resolve: (payload) => payload,
  }),
  licenseEvents: t.field({
    type: LicenseEventRef,
    description: 'Every licence event of the organization as it happens, from any gateway instance.',
    args: {
      organizationId: t.arg.id({
        required: true,
        description: 'The organization to watch; one the token cannot reach is NOT_FOUND (R-SEC-2).',
      }),
      after: t.arg.id({
        required: false,
        description: `Replay first: the events whose ids sort after this one, oldest first, then live, none of them twice. Pass the newest event a client has read (e.g. the first of Organization.events), so that nothing that happened between that read and this subscription is missed. It must be an event of the organization (else NOT_FOUND). More than ${MAX_REPLAY} events since it are refused (BAD_USER_INPUT): read them with Organization.events, then subscribe after the newest.`,
      }),
    },
    subscribe: async (_root, args, ctx) => {
      const org = await subscribable(ctx, args.organizationId);
      const after = args.after ?? null;
      if (after !== null && (!isId(after) || (await eventsByIds(ctx.db, org.id, [after])).length === 0))
        throw notFoundAt('licenseEvents.after', 'event', after);
      await ctx.live.ready();
      // Registered before the replay is read: an event committed in between is in the read, the channel or both.
      const channel = ctx.live.subscribeEvents(org.id);
      let replay: EventRow[] = [];
      try {
        if (after !== null) replay = await eventsAfter(ctx.db, org.id, after, MAX_REPLAY + 1);
      } catch (error) {
        channel.close();
        throw error;
      }
      if (replay.length > MAX_REPLAY) {
        channel.close();
        throw badInput(
          'licenseEvents.after',
          `more than ${MAX_REPLAY} events since this one: read them with Organization.events, then subscribe after the newest`,
          'R-LIVE-1',
        );
      }
      const replayed = new Set(replay.map((row) => row.id));
      let next = 0;
      return {
        async next() {
          // A subscription lives long: each event gets fresh loaders (users change meanwhile).
          if (next < replay.length) {
            ctx.loaders.user.clearAll();
            return { value: replay[next++]!, done: false };
          }
          for (;;) {
            const item = await channel.next();
            if (!item.done && replayed.has(item.value.id)) continue; // replayed already
            if (!item.done) ctx.loaders.user.clearAll();
            return item;
          }
        },
        return: () => channel.return(),
        [Symbol.asyncIterator]() {
          return this;
        },
      } satisfies AsyncIterableIterator<EventRow>;
    },
    resolve: (payload) => payload,
  }),
}));

/**
 * `first`, then the channel's values. Not an async generator: its return()
 * would wait for the generator's pending next(), i.e. for the next change, so
 * an unsubscribed channel would stay registered until then; here return()
 * closes the channel at once.
 */
function startingWith<T, U>(first: Promise<T>, channel: Channel<U>): AsyncIterableIterator<T | U> & DirectDelivery {
  let started = false;
  return {
    // The channel's values only: the first one always goes through the iterator (see shared-execution.ts).
    [DIRECT_DELIVERY]: (deliver: (payload: unknown) => boolean) => channel.deliverDirectly(deliver),
    async next(): Promise<IteratorResult<T | U>> {
      if (started) return channel.next();
      started = true;
      try {
        return { value: await first, done: false };
      } catch (error) {
        channel.close();
        throw error;
      }
    },
    return: () => channel.return(),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
