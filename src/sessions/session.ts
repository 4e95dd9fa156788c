import type { SessionRow } from '../db/schema.ts';
import type { SessionSeatKind } from '../licensing/session-plan.ts';

/**
 * Why a session ended (`sessions.end_reason`, `Session.endReason`): ENDED by
 * its client, EXPIRED without heartbeat, or ended because its user was
 * deleted or left ACTIVE (USER_DELETED, USER_INACTIVE, USER_PREPARING).
 */
export const END_REASONS = ['ENDED', 'EXPIRED', 'USER_DELETED', 'USER_INACTIVE', 'USER_PREPARING'] as const;
export type EndReason = (typeof END_REASONS)[number];

export const SEAT_KINDS = ['REGULAR', 'EMERGENCY', 'OVERAGE', 'DEMO', 'NAMED'] as const satisfies readonly SessionSeatKind[];

/** A session: its row, with its seat kind and end reason checked. */
export type Session = Omit<SessionRow, 'seat_kind' | 'end_reason'> & { seat_kind: SessionSeatKind; end_reason: EndReason | null };

/** The session a stored row is; a seat kind or end reason this gateway does not write is a fault. */
export function sessionOf(row: SessionRow): Session {
  if (!(SEAT_KINDS as readonly string[]).includes(row.seat_kind))
    throw new Error(`stored session ${row.id} has seat kind ${row.seat_kind}, which is not a SeatKind`);
  if (row.end_reason !== null && !(END_REASONS as readonly string[]).includes(row.end_reason))
    throw new Error(`stored session ${row.id} has end reason ${row.end_reason}, which is not a SessionEndReason`);
  return row as Session;
}
