import type { ColumnType, Generated, Selectable } from 'kysely';
import type { Executor } from '../db/database.ts';

type Timestamp = ColumnType<Date, Date, Date>;

/**
 * The webhook tables (migration 0009). They are added to the shared `Database`
 * type here, through Kysely's `withTables`, so that the webhook area owns its
 * tables without touching src/db/schema.ts.
 */
export type WebhookTables = {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_messages: WebhookMessagesTable;
  webhook_attempts: WebhookAttemptsTable;
};

export interface WebhookEndpointsTable {
  organization_id: string;
  id: string;
  url: string;
  /** Event types wanted (jsonb array); empty: every event. */
  event_types: ColumnType<string[], string, string>;
  /** `whsec_…`: needed in clear to sign (HMAC); never readable through the API. */
  secret: string;
  /** The secret before the last rotation, still signed with until `previous_secret_until`. */
  previous_secret: string | null;
  previous_secret_until: Timestamp | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type MessageStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

export interface WebhookMessagesTable {
  seq: Generated<number>;
  id: string;
  organization_id: string;
  endpoint_id: string;
  event_id: string | null;
  event_type: string;
  payload: ColumnType<unknown, string, string>;
  created_at: Timestamp;
  status: ColumnType<MessageStatus, MessageStatus | undefined, MessageStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  first_attempt_at: Timestamp | null;
  lease_until: Timestamp | null;
  lease_owner: string | null;
  delivered_at: Timestamp | null;
  last_error: string | null;
}

export interface WebhookAttemptsTable {
  id: string;
  organization_id: string;
  endpoint_id: string;
  message_id: string;
  attempt: number;
  at: Timestamp;
  http_status: number | null;
  duration_ms: number;
  succeeded: boolean;
  error: string | null;
  /** Which gateway instance made the attempt. */
  instance: string;
}

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookMessageRow = Selectable<WebhookMessagesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;

/** `db` (or a transaction) with the webhook tables in its type. */
export function withWebhookTables(db: Executor) {
  // Db and Trx both have withTables; the union's call signatures need the cast to one of them.
  return (db as Extract<Executor, { isTransaction: true }>).withTables<WebhookTables>();
}
