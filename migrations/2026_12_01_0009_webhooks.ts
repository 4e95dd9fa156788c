import { sql, type Kysely } from 'kysely';

/*
 * Signed webhooks from a transactional outbox.
 *
 * - webhook_endpoints: an organization's receivers (URL, wanted event types,
 *   signing secret; the previous secret is still signed with for a day after
 *   a rotation).
 * - webhook_messages: the outbox. An AFTER INSERT trigger on `events` writes
 *   one message per matching enabled endpoint in the same transaction as the
 *   event, whoever inserts it (any service, the session start's CTE, a manual
 *   fix in psql): a rolled-back change announces nothing, a committed one is
 *   never lost. The body is frozen at insert time. `seq` orders the messages
 *   of an endpoint; `lease_until` is the claim of the instance delivering it.
 * - webhook_attempts: the delivery log, one row per HTTP attempt.
 *
 * The trigger is per statement (a bulk insert of 1,000 events is one join),
 * and costs one probe of the small endpoints index when an organization has
 * no endpoint.
 */

// biome-ignore lint/suspicious/noExplicitAny: Kysely<any> by design (migrations never import src/)
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('id', 'uuid', (c) => c.notNull().unique())
    .addColumn('url', 'text', (c) => c.notNull())
    // Event types wanted (jsonb array of strings); empty: every event.
    .addColumn('event_types', 'jsonb', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('previous_secret', 'text')
    .addColumn('previous_secret_until', 'timestamptz')
    .addColumn('enabled', 'boolean', (c) => c.notNull())
    .addColumn('disabled_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_endpoints_pk', ['organization_id', 'id'])
    .execute();

  await db.schema
    .createTable('webhook_messages')
    .addColumn('seq', 'bigserial', (c) => c.notNull())
    // The webhook-id header: the same on every attempt and redelivery, so receivers can drop duplicates.
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('endpoint_id', 'uuid', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
    .addColumn('event_id', 'uuid')
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    // PENDING, DELIVERED or FAILED (given up).
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('PENDING'))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    // Start of the retry window (the first attempt, or the latest redelivery / re-enabling).
    .addColumn('first_attempt_at', 'timestamptz')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('lease_owner', 'text')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .execute();
  await sql`create index webhook_messages_pending_idx on webhook_messages (endpoint_id, seq) where status = 'PENDING'`.execute(db);
  await sql`create index webhook_messages_due_idx on webhook_messages (next_attempt_at) where status = 'PENDING'`.execute(db);

  await db.schema
    .createTable('webhook_attempts')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('endpoint_id', 'uuid', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
    .addColumn('message_id', 'uuid', (c) => c.notNull().references('webhook_messages.id').onDelete('cascade'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('http_status', 'integer')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('succeeded', 'boolean', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('instance', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_attempts_endpoint_idx').on('webhook_attempts').columns(['endpoint_id', 'id']).execute();
  await db.schema.createIndex('webhook_attempts_message_idx').on('webhook_attempts').columns(['message_id']).execute();

  await sql`
    create function webhook_outbox_on_events() returns trigger language plpgsql as $$
    begin
      insert into webhook_messages (id, organization_id, endpoint_id, event_id, event_type, payload, created_at, next_attempt_at)
      select gen_random_uuid(), e.organization_id, w.id, e.id, e.type,
        jsonb_build_object(
          'type', e.type,
          'timestamp', to_char(e.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'data', jsonb_build_object(
            'id', e.id, 'organizationId', e.organization_id, 'at', to_char(e.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'type', e.type, 'userId', e.user_id, 'productCode', e.product_code, 'detail', e.detail,
            'actor', e.actor, 'apiTokenId', e.api_token_id)),
        e.at, e.at
      from new_events e
      join webhook_endpoints w on w.organization_id = e.organization_id and w.enabled
        and (jsonb_array_length(w.event_types) = 0 or w.event_types ? e.type)
      order by e.id, w.id;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger events_webhook_outbox after insert on events
    referencing new table as new_events
    for each statement execute function webhook_outbox_on_events()`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: Kysely<any> by design (migrations never import src/)
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger events_webhook_outbox on events`.execute(db);
  await sql`drop function webhook_outbox_on_events()`.execute(db);
  await db.schema.dropTable('webhook_attempts').execute();
  await db.schema.dropTable('webhook_messages').execute();
  await db.schema.dropTable('webhook_endpoints').execute();
}
