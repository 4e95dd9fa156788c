import { actorOf, authorize, requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import { withTransaction } from '../db/transaction.ts';
import { badInput, notFound } from '../errors.ts';
import type { EventType } from '../events/event.ts';
import { appendEvents } from '../events/events.repository.ts';
import { isId, newId } from '../ids.ts';
import type { Page } from '../db/pages.ts';
import { getOrganization } from '../tenancy/access.ts';
import { newSecret } from './signing.ts';
import type { WebhookAttemptRow, WebhookEndpointRow, WebhookMessageRow } from './tables.ts';
import * as repo from './webhooks.repository.ts';

/** A rotated-out secret is still signed with (a second signature) this long, so receivers can switch over. */
export const PREVIOUS_SECRET_MS = 86_400_000;
export const PING_EVENT = 'WEBHOOK_PING';
export const MAX_URL_LENGTH = 2048;
export const MAX_EVENT_TYPES = 100;
/** Endpoints one organization may have (each costs a request per event). */
export const MAX_ENDPOINTS_PER_ORGANIZATION = 10;
const EVENT_TYPE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** An endpoint URL: absolute http(s), no credentials; where it points is checked at each delivery (SSRF). */
export function cleanUrl(field: string, value: string): string {
  const text = value.trim();
  if (text.length === 0 || text.length > MAX_URL_LENGTH) throw badInput(field, `must be an http(s) URL of 1..${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput(field, 'is not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badInput(field, 'must use https: or http:');
  if (url.username || url.password) throw badInput(field, 'must not carry a user name or password (the signature authenticates)');
  return url.toString();
}

/** Event types wanted: distinct names like SESSION_STARTED; empty means every event. */
export function cleanEventTypes(field: string, values: readonly string[]): string[] {
  if (values.length > MAX_EVENT_TYPES) throw badInput(field, `at most ${MAX_EVENT_TYPES} event types`);
  for (const [i, v] of values.entries()) {
    if (!EVENT_TYPE.test(v)) throw badInput(`${field}[${i}]`, 'must be an event type such as SESSION_STARTED (A-Z, 0-9, _)');
  }
  return [...new Set(values)].sort();
}

/** The endpoint, if the viewer may change it; another organization's is NOT_FOUND (R-SEC-2). */
async function endpointToChange(ctx: Context, db: Executor, id: string): Promise<WebhookEndpointRow> {
  requireAuthenticated(ctx.viewer);
  const found = isId(id) ? await repo.findEndpoint(db, id, viewerOrganization(ctx.viewer)) : undefined;
  if (!found) throw notFound('webhook endpoint', id);
  authorize(ctx.viewer, found.organization_id, 'write', 'webhook endpoint', id);
  const locked = await repo.lockEndpoint(db, id);
  if (!locked) throw notFound('webhook endpoint', id);
  return locked;
}

async function audit(ctx: Context, db: Executor, organizationId: string, type: EventType, detail: string): Promise<void> {
  await appendEvents(db, [{ organizationId, type, at: ctx.clock.now(), detail, ...actorOf(ctx.viewer) }]);
}

export interface CreateEndpointInput {
  organizationId: string;
  url: string;
  eventTypes?: readonly string[] | null;
  enabled?: boolean | null;
}

export function createEndpoint(ctx: Context, input: CreateEndpointInput): Promise<{ endpoint: WebhookEndpointRow; secret: string }> {
  return withTransaction(ctx.db, async (trx) => {
    const org = await getOrganization(ctx, input.organizationId, 'write', trx);
    await repo.lockOrganizationRow(trx, org.id);
    if ((await repo.endpointsOf(trx, org.id)).length >= MAX_ENDPOINTS_PER_ORGANIZATION)
      throw badInput(
        'input.organizationId',
        `an organization has at most ${MAX_ENDPOINTS_PER_ORGANIZATION} webhook endpoints; delete one first`,
      );
    const now = ctx.clock.now();
    const secret = newSecret();
    const endpoint: WebhookEndpointRow = {
      organization_id: org.id,
      id: newId(now),
      url: cleanUrl('input.url', input.url),
      event_types: cleanEventTypes('input.eventTypes', input.eventTypes ?? []),
      secret,
      previous_secret: null,
      previous_secret_until: null,
      enabled: input.enabled ?? true,
      disabled_reason: null,
      created_at: now,
      updated_at: now,
    };
    await repo.insertEndpoint(trx, endpoint);
    await audit(ctx, trx, org.id, 'WEBHOOK_ENDPOINT_CREATED', `${endpoint.id} ${endpoint.url}`);
    return { endpoint, secret };
  });
}

export interface UpdateEndpointInput {
  endpointId: string;
  url?: string | null;
  eventTypes?: readonly string[] | null;
  enabled?: boolean | null;
}

export function updateEndpoint(ctx: Context, input: UpdateEndpointInput): Promise<WebhookEndpointRow> {
  return withTransaction(ctx.db, async (trx) => {
    const before = await endpointToChange(ctx, trx, input.endpointId);
    const now = ctx.clock.now();
    const patch: repo.EndpointPatch = { updated_at: now };
    if (input.url != null) patch.url = cleanUrl('input.url', input.url);
    if (input.eventTypes != null) patch.event_types = cleanEventTypes('input.eventTypes', input.eventTypes);
    if (input.enabled != null) {
      patch.enabled = input.enabled;
      if (input.enabled) patch.disabled_reason = null;
    }
    const after = await repo.updateEndpoint(trx, before.id, patch);
    // Enabled again: what waited starts over (a fresh retry window, due now), oldest first.
    if (after.enabled && !before.enabled) await repo.restartPending(trx, after.id, now);
    const changes = [
      patch.url !== undefined && patch.url !== before.url ? `url ${after.url}` : null,
      patch.event_types ? `eventTypes [${after.event_types.join(', ')}]` : null,
      after.enabled !== before.enabled ? (after.enabled ? 'enabled' : 'disabled') : null,
    ].filter((c) => c !== null);
    await audit(ctx, trx, after.organization_id, 'WEBHOOK_ENDPOINT_UPDATED', `${after.id}: ${changes.join('; ') || 'no change'}`);
    return after;
  });
}

export function deleteEndpoint(ctx: Context, endpointId: string): Promise<string> {
  return withTransaction(ctx.db, async (trx) => {
    const endpoint = await endpointToChange(ctx, trx, endpointId);
    // Its waiting messages and its delivery log go with it (foreign keys, on delete cascade).
    await repo.deleteEndpoint(trx, endpoint.id);
    await audit(ctx, trx, endpoint.organization_id, 'WEBHOOK_ENDPOINT_DELETED', `${endpoint.id} ${endpoint.url}`);
    return endpoint.id;
  });
}

/** A new secret, returned once; the old one is still signed with for PREVIOUS_SECRET_MS. */
export function rotateSecret(ctx: Context, endpointId: string): Promise<{ endpoint: WebhookEndpointRow; secret: string }> {
  return withTransaction(ctx.db, async (trx) => {
    const before = await endpointToChange(ctx, trx, endpointId);
    const now = ctx.clock.now();
    const secret = newSecret();
    const endpoint = await repo.updateEndpoint(trx, before.id, {
      secret,
      previous_secret: before.secret,
      previous_secret_until: new Date(now.getTime() + PREVIOUS_SECRET_MS),
      updated_at: now,
    });
    await audit(ctx, trx, endpoint.organization_id, 'WEBHOOK_SECRET_ROTATED', endpoint.id);
    return { endpoint, secret };
  });
}

function requireEnabled(endpoint: WebhookEndpointRow, field: string): void {
  if (!endpoint.enabled) throw badInput(field, `webhook endpoint ${endpoint.id} is disabled; enable it first (updateWebhookEndpoint)`);
}

/** Queues a WEBHOOK_PING message behind the endpoint's earlier messages; its attempts show in the delivery log. */
export function sendPing(ctx: Context, endpointId: string): Promise<WebhookMessageRow> {
  return withTransaction(ctx.db, async (trx) => {
    const endpoint = await endpointToChange(ctx, trx, endpointId);
    requireEnabled(endpoint, 'endpointId');
    const now = ctx.clock.now();
    return repo.insertMessage(trx, {
      id: newId(now),
      organization_id: endpoint.organization_id,
      endpoint_id: endpoint.id,
      event_type: PING_EVENT,
      payload: {
        type: PING_EVENT,
        timestamp: now.toISOString(),
        data: { endpointId: endpoint.id, organizationId: endpoint.organization_id },
      },
      created_at: now,
    });
  });
}

/** The message again (same webhook-id and body), at the end of its endpoint's queue. */
export function redeliverMessage(ctx: Context, messageId: string): Promise<WebhookMessageRow> {
  return withTransaction(ctx.db, async (trx) => {
    requireAuthenticated(ctx.viewer);
    const message = isId(messageId) ? await repo.findMessage(trx, messageId, viewerOrganization(ctx.viewer)) : undefined;
    if (!message) throw notFound('webhook message', messageId);
    const endpoint = await endpointToChange(ctx, trx, message.endpoint_id);
    requireEnabled(endpoint, 'id');
    if (message.status === 'PENDING') throw badInput('id', `webhook message ${message.id} is still waiting for delivery`);
    const requeued = await repo.requeueMessage(trx, message.id, ctx.clock.now());
    await audit(
      ctx,
      trx,
      endpoint.organization_id,
      'WEBHOOK_MESSAGE_REDELIVERED',
      `${message.id} (${message.event_type}) to ${endpoint.id}`,
    );
    return requeued;
  });
}

export async function listEndpoints(ctx: Context, organizationId: string): Promise<WebhookEndpointRow[]> {
  return repo.endpointsOf(ctx.db, organizationId);
}

/** One attempt of the delivery log with its message. */
export type Delivery = WebhookAttemptRow & { message: WebhookMessageRow };

/** A page of an endpoint's delivery log (limit + 1 rows, newest first), each attempt with its message. */
export async function pageOfDeliveries(ctx: Context, endpointId: string, page: Page): Promise<Delivery[]> {
  const attempts = await repo.pageOfAttempts(ctx.db, endpointId, page);
  const messages = new Map((await repo.messagesByIds(ctx.db, [...new Set(attempts.map((a) => a.message_id))])).map((m) => [m.id, m]));
  return attempts.flatMap((a) => {
    const message = messages.get(a.message_id);
    return message ? [{ ...a, message }] : [];
  });
}

export async function messageOf(ctx: Context, id: string): Promise<WebhookMessageRow | null> {
  return (await repo.findMessage(ctx.db, id, null)) ?? null;
}
