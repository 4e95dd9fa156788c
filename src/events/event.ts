import type { EventRow } from '../db/schema.ts';

/** Every kind of entry of the event log (R-EVENT-1); `LicenseEvent.type` in the API. */
export const EVENT_TYPES = [
  'ORGANIZATION_CREATED',
  'USER_CREATED',
  'USER_STATUS_CHANGED',
  'USER_DELETED',
  'USERS_MOVED',
  'CONFIGURATION_GROUP_CHANGED',
  'LICENSE_GRANTED',
  'LICENSE_REVOKED',
  'KEY_ACTIVATED',
  'STATE_CHANGED',
  'API_TOKEN_CREATED',
  'API_TOKEN_REVOKED',
  'SESSION_STARTED',
  'SESSION_ENDED',
  'SESSION_EXPIRED',
  'SESSION_DENIED',
  // changeSessionChannels (sessions/channels.service.ts): channel units taken or freed on an open session.
  'SESSION_CHANNELS_CHANGED',
  // Webhooks (src/webhooks/): endpoint changes, and an endpoint disabled after its retry window.
  'WEBHOOK_ENDPOINT_CREATED',
  'WEBHOOK_ENDPOINT_UPDATED',
  'WEBHOOK_ENDPOINT_DELETED',
  'WEBHOOK_SECRET_ROTATED',
  'WEBHOOK_MESSAGE_REDELIVERED',
  'WEBHOOK_ENDPOINT_DISABLED',
  // A user's hardware security key was recorded or removed (setUserSecurityKeyEnrolled, R-2FA-2).
  'USER_SECURITY_KEY_CHANGED',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** An entry of the event log: its row, with its type checked. */
export type LicenseEvent = Omit<EventRow, 'type'> & { type: EventType };

/** The event a stored row is; a type this gateway does not know is a fault (the log is only written here). */
export function eventOf(row: EventRow): LicenseEvent {
  if (!(EVENT_TYPES as readonly string[]).includes(row.type))
    throw new Error(`stored event ${row.id} has type ${row.type}, which is not an EventType`);
  return row as LicenseEvent;
}
