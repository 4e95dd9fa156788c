import { pageArgs } from '../schema/args.ts';
import { builder } from '../schema/builder.ts';
import { parsePage, toConnection, type Connection } from '../schema/pagination.ts';
import { NodeRef, OrganizationRef, PageInfoRef } from '../schema/refs.ts';
import type { MessageStatus, WebhookEndpointRow, WebhookMessageRow } from './tables.ts';
import * as service from './webhooks.service.ts';

/*
 * Webhooks, for ADMIN tokens of the organization and the operator (reach
 * `admin`). The signing secret is in the create and rotate payloads only:
 * no field reads it afterwards.
 */

const MessageStatusEnum = builder.enumType('WebhookMessageStatus', {
  description: 'Where a webhook message stands.',
  values: {
    PENDING: { description: 'Waiting for delivery (or for a retry).' },
    DELIVERED: { description: 'The receiver answered 2xx.' },
    FAILED: { description: 'Given up after the retry window; the endpoint was disabled.' },
  } satisfies Record<MessageStatus, unknown>,
});

const WebhookMessageRef = builder.objectRef<WebhookMessageRow>('WebhookMessage').implement({
  interfaces: [NodeRef],
  description: 'One message of the outbox: an event (or a ping) for one endpoint.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The webhook-id header: the same on every attempt and redelivery.' }),
    eventType: t.exposeString('event_type', { description: 'The event type announced (an EventType value), or WEBHOOK_PING.' }),
    eventId: t.exposeID('event_id', { nullable: true, description: 'The LicenseEvent announced; null for a ping.' }),
    status: t.field({ type: MessageStatusEnum, description: 'Waiting, delivered or given up.', resolve: (m) => m.status }),
    attempts: t.exposeInt('attempts', { description: 'HTTP attempts so far.' }),
    createdAt: t.field({
      type: 'DateTime',
      description: 'When the change it announces committed (or the ping was queued).',
      resolve: (m) => m.created_at,
    }),
    nextAttemptAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the next attempt is due; null unless PENDING.',
      resolve: (m) => (m.status === 'PENDING' ? m.next_attempt_at : null),
    }),
    deliveredAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the receiver answered 2xx; null until then.',
      resolve: (m) => m.delivered_at,
    }),
    lastError: t.exposeString('last_error', { nullable: true, description: 'Why the last attempt failed; null when it did not.' }),
  }),
});

type Delivery = service.Delivery;

const WebhookDeliveryRef = builder.objectRef<Delivery>('WebhookDelivery').implement({
  interfaces: [NodeRef],
  description: 'One HTTP attempt of a message.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The attempt id.' }),
    message: t.field({ type: WebhookMessageRef, description: 'The message this attempt sent.', resolve: (d) => d.message }),
    attempt: t.exposeInt('attempt', { description: '1 for the first attempt of the message, then 2, 3 …' }),
    at: t.field({ type: 'DateTime', description: 'When the attempt started.', resolve: (d) => d.at }),
    httpStatus: t.exposeInt('http_status', { nullable: true, description: "The receiver's status; null when none came." }),
    durationMs: t.exposeInt('duration_ms', { description: 'How long the request took, in milliseconds.' }),
    succeeded: t.exposeBoolean('succeeded', { description: 'True when the receiver answered 2xx.' }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why it failed (status, timeout, refused address …); null when it succeeded.',
    }),
  }),
});

const WebhookDeliveryEdgeRef = builder.objectRef<Connection<Delivery>['edges'][number]>('WebhookDeliveryEdge').implement({
  description: 'One attempt of the delivery log, with its cursor.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Pass as after to read the attempts after this one.' }),
    node: t.field({ type: WebhookDeliveryRef, description: 'The attempt.', resolve: (e) => e.node }),
  }),
});

const WebhookDeliveryConnectionRef = builder.objectRef<Connection<Delivery>>('WebhookDeliveryConnection').implement({
  description: "A page of an endpoint's delivery log, newest first.",
  fields: (t) => ({
    edges: t.field({ type: [WebhookDeliveryEdgeRef], description: 'The attempts of this page.', resolve: (c) => c.edges }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: 'Whether more attempts follow, and the cursor to read them.',
      resolve: (c) => c.pageInfo,
    }),
  }),
});

const WebhookEndpointRef = builder.objectRef<WebhookEndpointRow>('WebhookEndpoint').implement({
  interfaces: [NodeRef],
  description: 'A receiver of signed webhooks (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The endpoint id.' }),
    url: t.exposeString('url', {
      description: 'Where messages are POSTed; loopback and private addresses only with WEBHOOK_ALLOW_PRIVATE.',
    }),
    eventTypes: t.exposeStringList('event_types', { description: 'Event types sent; empty: every event.' }),
    enabled: t.exposeBoolean('enabled', { description: 'False: nothing is delivered; messages still queue.' }),
    disabledReason: t.exposeString('disabled_reason', { nullable: true, description: 'Why delivery disabled it, if it did.' }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was created.', resolve: (e) => e.created_at }),
    updatedAt: t.field({ type: 'DateTime', description: 'When it was last changed.', resolve: (e) => e.updated_at }),
    deliveries: t.field({
      type: WebhookDeliveryConnectionRef,
      description: 'The delivery log: every attempt, newest first.',
      args: pageArgs(t.arg),
      resolve: async (endpoint, args, ctx) => {
        const page = parsePage(args);
        return toConnection(await service.pageOfDeliveries(ctx, endpoint.id, page), page);
      },
    }),
  }),
});

builder.objectFields(OrganizationRef, (t) => ({
  webhookEndpoints: t.field({
    type: [WebhookEndpointRef],
    description: "The organization's webhook endpoints (never their secrets); the operator or an ADMIN token.",
    resolve: (org, _a, ctx) => service.listEndpoints(ctx, org.id),
  }),
}));

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  description: 'A new webhook endpoint of an organization (at most 10 per organization).',
  fields: (t) => ({
    organizationId: t.id({ description: 'The organization whose events it receives.' }),
    url: t.string({ description: `An absolute https: (or http:) URL, at most ${service.MAX_URL_LENGTH} characters.` }),
    eventTypes: t.stringList({ required: false, description: 'Event types to send (e.g. SESSION_STARTED); empty or absent: every event.' }),
    enabled: t.boolean({ required: false, description: 'Default true.' }),
  }),
});

const UpdateWebhookEndpointInput = builder.inputType('UpdateWebhookEndpointInput', {
  description: 'Changes to a webhook endpoint; an absent field stays as it is.',
  fields: (t) => ({
    endpointId: t.id({ description: 'The endpoint to change.' }),
    url: t.string({ required: false, description: 'A new URL, with the same rules as at creation.' }),
    eventTypes: t.stringList({ required: false, description: 'The event types to send from now on; empty: every event.' }),
    enabled: t.boolean({
      required: false,
      description: 'true enables a disabled endpoint: its waiting messages are delivered again, oldest first.',
    }),
  }),
});

const EndpointIdInput = builder.inputType('WebhookEndpointIdInput', {
  description: 'One webhook endpoint.',
  fields: (t) => ({ endpointId: t.id({ description: 'The endpoint id.' }) }),
});

const SecretPayload = (name: string) =>
  builder.objectRef<{ endpoint: WebhookEndpointRow; secret: string }>(name).implement({
    description: 'The endpoint and its new signing secret.',
    fields: (t) => ({
      endpoint: t.field({ type: WebhookEndpointRef, description: 'The endpoint.', resolve: (p) => p.endpoint }),
      secret: t.exposeString('secret', {
        description: 'The signing secret (whsec_ and base64, as Standard Webhooks libraries take it), shown this once.',
      }),
    }),
  });
const CreateWebhookEndpointPayload = SecretPayload('CreateWebhookEndpointPayload');
const RotateWebhookSecretPayload = SecretPayload('RotateWebhookSecretPayload');

const UpdateWebhookEndpointPayload = builder.objectRef<{ endpoint: WebhookEndpointRow }>('UpdateWebhookEndpointPayload').implement({
  description: 'The changed endpoint.',
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpointRef, description: 'The endpoint as it is now.', resolve: (p) => p.endpoint }),
  }),
});
const DeleteWebhookEndpointPayload = builder.objectRef<{ deletedEndpointId: string }>('DeleteWebhookEndpointPayload').implement({
  description: 'Which endpoint was deleted.',
  fields: (t) => ({ deletedEndpointId: t.exposeID('deletedEndpointId', { description: 'The id of the deleted endpoint.' }) }),
});
const WebhookMessagePayload = builder.objectRef<{ message: WebhookMessageRow }>('WebhookMessagePayload').implement({
  description: 'The queued message.',
  fields: (t) => ({
    message: t.field({ type: WebhookMessageRef, description: 'The message, waiting for delivery.', resolve: (p) => p.message }),
  }),
});

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: CreateWebhookEndpointPayload,
    description: 'A new endpoint; its signing secret is returned once.',
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true, description: 'The endpoint to create.' }) },
    resolve: (_r, { input }, ctx) => service.createEndpoint(ctx, input),
  }),
  updateWebhookEndpoint: t.field({
    type: UpdateWebhookEndpointPayload,
    description: 'Changes URL, event types or enabled; enabling delivers the messages that waited.',
    args: { input: t.arg({ type: UpdateWebhookEndpointInput, required: true, description: 'The changes.' }) },
    resolve: async (_r, { input }, ctx) => ({ endpoint: await service.updateEndpoint(ctx, input) }),
  }),
  deleteWebhookEndpoint: t.field({
    type: DeleteWebhookEndpointPayload,
    description: 'Deletes the endpoint with its waiting messages and its delivery log.',
    args: { input: t.arg({ type: EndpointIdInput, required: true, description: 'The endpoint.' }) },
    resolve: async (_r, { input }, ctx) => ({ deletedEndpointId: await service.deleteEndpoint(ctx, input.endpointId) }),
  }),
  rotateWebhookSecret: t.field({
    type: RotateWebhookSecretPayload,
    description: `A new signing secret, returned once; for ${service.PREVIOUS_SECRET_MS / 3_600_000} h messages carry a signature with the old one too.`,
    args: { input: t.arg({ type: EndpointIdInput, required: true, description: 'The endpoint.' }) },
    resolve: (_r, { input }, ctx) => service.rotateSecret(ctx, input.endpointId),
  }),
  redeliverWebhookMessage: t.field({
    type: WebhookMessagePayload,
    description: 'Sends the message again (same webhook-id and body), after the messages already waiting for its endpoint.',
    args: { id: t.arg.id({ required: true, description: 'The message id (its webhook-id).' }) },
    resolve: async (_r, { id }, ctx) => ({ message: await service.redeliverMessage(ctx, String(id)) }),
  }),
  sendWebhookPing: t.field({
    type: WebhookMessagePayload,
    description: `Queues a ${service.PING_EVENT} message for the endpoint; its attempts show in WebhookEndpoint.deliveries.`,
    args: { endpointId: t.arg.id({ required: true, description: 'The endpoint to ping.' }) },
    resolve: async (_r, { endpointId }, ctx) => ({ message: await service.sendPing(ctx, String(endpointId)) }),
  }),
}));
