import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { withWebhookTables, type WebhookAttemptRow, type WebhookEndpointRow, type WebhookMessageRow } from './tables.ts';

/** SQL of the webhook area: endpoints, the outbox (webhook_messages) and the delivery log (webhook_attempts). */

export async function insertEndpoint(db: Executor, row: WebhookEndpointRow): Promise<void> {
  await withWebhookTables(db)
    .insertInto('webhook_endpoints')
    .values({ ...row, event_types: JSON.stringify(row.event_types) })
    .execute();
}

/** One endpoint; `organizationId` null: any organization's (the operator). */
export function findEndpoint(db: Executor, id: string, organizationId: string | null): Promise<WebhookEndpointRow | undefined> {
  let q = withWebhookTables(db).selectFrom('webhook_endpoints').selectAll().where('id', '=', id);
  if (organizationId !== null) q = q.where('organization_id', '=', organizationId);
  return q.executeTakeFirst();
}

/** Endpoints by id (Query.node); `organizationId` null: of any organization (the operator). */
export function endpointsByIds(db: Executor, ids: readonly string[], organizationId: string | null): Promise<WebhookEndpointRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  let q = withWebhookTables(db).selectFrom('webhook_endpoints').selectAll().where('id', 'in', ids);
  if (organizationId !== null) q = q.where('organization_id', '=', organizationId);
  return q.execute();
}

/** Locks the endpoint row for a change (rotation, update) so that two changes apply one after the other. */
export function lockEndpoint(db: Executor, id: string): Promise<WebhookEndpointRow | undefined> {
  return withWebhookTables(db).selectFrom('webhook_endpoints').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function endpointsOf(db: Executor, organizationId: string): Promise<WebhookEndpointRow[]> {
  return withWebhookTables(db)
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .orderBy('id')
    .execute();
}

export interface EndpointPatch {
  url?: string;
  event_types?: string[];
  enabled?: boolean;
  disabled_reason?: string | null;
  secret?: string;
  previous_secret?: string | null;
  previous_secret_until?: Date | null;
  updated_at: Date;
}

export async function updateEndpoint(db: Executor, id: string, patch: EndpointPatch): Promise<WebhookEndpointRow> {
  const { event_types, ...rest } = patch;
  return withWebhookTables(db)
    .updateTable('webhook_endpoints')
    .set({ ...rest, ...(event_types ? { event_types: JSON.stringify(event_types) } : {}) })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteEndpoint(db: Executor, id: string): Promise<void> {
  await withWebhookTables(db).deleteFrom('webhook_endpoints').where('id', '=', id).execute();
}

/** The messages of an endpoint still waiting start a fresh retry window, due now (the endpoint was enabled again). */
export async function restartPending(db: Executor, endpointId: string, now: Date): Promise<void> {
  await withWebhookTables(db)
    .updateTable('webhook_messages')
    .set({ first_attempt_at: null, next_attempt_at: now, lease_until: null, lease_owner: null })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'PENDING')
    .execute();
}

export function findMessage(db: Executor, id: string, organizationId: string | null): Promise<WebhookMessageRow | undefined> {
  let q = withWebhookTables(db).selectFrom('webhook_messages').selectAll().where('id', '=', id);
  if (organizationId !== null) q = q.where('organization_id', '=', organizationId);
  return q.executeTakeFirst();
}

export function messagesByIds(db: Executor, ids: readonly string[]): Promise<WebhookMessageRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return withWebhookTables(db).selectFrom('webhook_messages').selectAll().where('id', 'in', ids).execute();
}

/** A message not tied to an event (a ping), queued behind the endpoint's earlier messages. */
export function insertMessage(
  db: Executor,
  row: { id: string; organization_id: string; endpoint_id: string; event_type: string; payload: unknown; created_at: Date },
): Promise<WebhookMessageRow> {
  return withWebhookTables(db)
    .insertInto('webhook_messages')
    .values({ ...row, event_id: null, payload: JSON.stringify(row.payload), next_attempt_at: row.created_at })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Redelivery: the message (same webhook-id, same body) waits again, at the
 * end of its endpoint's queue, with a fresh retry window.
 */
export async function requeueMessage(db: Executor, id: string, now: Date): Promise<WebhookMessageRow> {
  const result = await sql<WebhookMessageRow>`
    update webhook_messages
    set status = 'PENDING', seq = nextval(pg_get_serial_sequence('webhook_messages', 'seq')), next_attempt_at = ${now},
        first_attempt_at = null, lease_until = null, lease_owner = null, delivered_at = null
    where id = ${id}
    returning *`.execute(db);
  return result.rows[0]!;
}

/** A claimed message with what its attempt needs from its endpoint. */
export interface ClaimedMessage extends WebhookMessageRow {
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Date | null;
}

/**
 * Claims up to `limit` due messages, each the oldest waiting message of its
 * endpoint (an endpoint's next message waits until the previous one is
 * delivered or given up), for `owner` until `leaseUntil`. Rows another
 * instance is claiming right now are skipped (FOR UPDATE SKIP LOCKED), and a
 * claimed row is not due again before its lease ends, so each attempt is made
 * by one instance. The claim commits at once: no transaction stays open
 * during the HTTP request, and a process killed mid-delivery leaves a lease
 * that simply runs out.
 */
export async function claimDue(db: Executor, now: Date, leaseUntil: Date, owner: string, limit: number): Promise<ClaimedMessage[]> {
  const result = await sql<ClaimedMessage>`
    with claimed as (
      update webhook_messages m
      set lease_until = ${leaseUntil}, lease_owner = ${owner}, attempts = m.attempts + 1,
          first_attempt_at = coalesce(m.first_attempt_at, ${now})
      where m.id in (
        select c.id from webhook_messages c
        join webhook_endpoints w on w.id = c.endpoint_id and w.enabled
        where c.status = 'PENDING' and c.next_attempt_at <= ${now}
          and (c.lease_until is null or c.lease_until <= ${now})
          and not exists (
            select 1 from webhook_messages p where p.endpoint_id = c.endpoint_id and p.status = 'PENDING' and p.seq < c.seq)
        order by c.seq
        limit ${limit}
        for update of c skip locked)
      returning m.*)
    select claimed.*, w.url, w.secret, w.previous_secret, w.previous_secret_until
    from claimed join webhook_endpoints w on w.id = claimed.endpoint_id
    order by claimed.seq`.execute(db);
  return result.rows;
}

/** The claim of `owner` for attempt `attempt` still holds: nobody else took the message since. */
function fenced(db: Executor, id: string, owner: string, attempt: number) {
  return withWebhookTables(db)
    .updateTable('webhook_messages')
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('attempts', '=', attempt)
    .where('status', '=', 'PENDING');
}

export async function markDelivered(db: Executor, m: ClaimedMessage, owner: string, now: Date): Promise<boolean> {
  const r = await fenced(db, m.id, owner, m.attempts)
    .set({ status: 'DELIVERED', delivered_at: now, lease_until: null, lease_owner: null, last_error: null })
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function scheduleRetry(db: Executor, m: ClaimedMessage, owner: string, at: Date, error: string): Promise<boolean> {
  const r = await fenced(db, m.id, owner, m.attempts)
    .set({ next_attempt_at: at, lease_until: null, lease_owner: null, last_error: error })
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function markFailed(db: Executor, m: ClaimedMessage, owner: string, error: string): Promise<boolean> {
  const r = await fenced(db, m.id, owner, m.attempts)
    .set({ status: 'FAILED', lease_until: null, lease_owner: null, last_error: error })
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** Disables an enabled endpoint; false when it was already disabled (or deleted). */
export async function disableEndpoint(db: Executor, id: string, reason: string, now: Date): Promise<boolean> {
  const r = await withWebhookTables(db)
    .updateTable('webhook_endpoints')
    .set({ enabled: false, disabled_reason: reason, updated_at: now })
    .where('id', '=', id)
    .where('enabled', '=', true)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function insertAttempt(db: Executor, row: WebhookAttemptRow): Promise<void> {
  await withWebhookTables(db).insertInto('webhook_attempts').values(row).execute();
}

/** An endpoint's delivery log, newest first. */
export function pageOfAttempts(
  db: Executor,
  endpointId: string,
  page: { limit: number; afterId: string | null },
): Promise<WebhookAttemptRow[]> {
  let q = withWebhookTables(db).selectFrom('webhook_attempts').selectAll().where('endpoint_id', '=', endpointId);
  if (page.afterId) q = q.where('id', '<', page.afterId);
  return q
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .execute();
}

/** Delivery attempts by id (Query.node); `organizationId` null: of any organization (the operator). */
export function attemptsByIds(db: Executor, ids: readonly string[], organizationId: string | null): Promise<WebhookAttemptRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  let q = withWebhookTables(db).selectFrom('webhook_attempts').selectAll().where('id', 'in', ids);
  if (organizationId !== null) q = q.where('organization_id', '=', organizationId);
  return q.execute();
}

/** Serializes endpoint creations of one organization (the per-organization limit is read, then written). */
export async function lockOrganizationRow(db: Executor, organizationId: string): Promise<void> {
  await db.selectFrom('organizations').select('id').where('id', '=', organizationId).forUpdate().execute();
}
