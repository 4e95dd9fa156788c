/**
 * Refused session starts made visible: every denial `startSession` answers
 * is counted in `gateway_sessions_denied_total` and logged as a
 * SESSION_DENIED event (its own small write after the start, so a start
 * that rolled back still leaves it; its NOTIFY reaches live subscribers,
 * and the seatUsage figures `deniedToday` change with it).
 *
 * A denial storm (agents retrying against a full pool) must not become a
 * write storm on the hot path: `SessionDenials` lets through at most one
 * event per organization, user and denial code per interval
 * (DENIAL_EVENT_INTERVAL_SECONDS, default 10; 0 logs every denial); the
 * metric counts every denial anyway. "Agents turned away today" counts
 * distinct users, which the bound leaves exact.
 */
import { actorOf } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import { appendEvents } from '../events/events.repository.ts';
import type { Refusal } from '../licensing/session-plan.ts';
import { findUser } from '../tenancy/tenancy.repository.ts';

/** The label of a denial without a product (NOT_LICENSED, USER_NOT_ACTIVE, DEMO_LIMIT_REACHED …). */
export const NO_PRODUCT = 'none';

/**
 * Records the denial `startSession` answers for `userId`: the counter, and
 * (bounded, see above) the SESSION_DENIED event with the viewer as actor,
 * the product where the denial names one, and the code in `denial_code`.
 */
export async function recordDenial(ctx: Context, userId: string, denial: Refusal): Promise<void> {
  const viewer = ctx.viewer;
  // A token acts in its own organization (the start was authorized there); the operator's user is looked up.
  const organizationId =
    viewer.kind === 'token' ? viewer.organizationId : ((await findUser(ctx.db, userId, null))?.organization_id ?? null);
  if (!organizationId) return; // the user is gone since the refusal: nobody left to log it for
  const product = denial.product ?? null;
  ctx.denials.count({ organization: organizationId, product: product ?? NO_PRODUCT, code: denial.code });
  const at = ctx.clock.now();
  if (!ctx.denials.due(`${organizationId}:${userId}:${denial.code}`, at.getTime())) return;
  await appendEvents(ctx.db, [
    {
      organizationId,
      type: 'SESSION_DENIED',
      at,
      userId,
      productCode: product,
      detail: `${denial.code}: ${denial.message}`,
      denialCode: denial.code,
      ...actorOf(viewer),
    },
  ]);
}
