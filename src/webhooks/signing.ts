import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * A new signing secret as Standard Webhooks expects it: `whsec_` and the
 * base64 of 32 random bytes (the HMAC-SHA256 key).
 */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * The three Standard Webhooks headers of one attempt. Several secrets (during
 * a rotation) give several space-separated signatures; a receiver that knows
 * either secret accepts the message.
 *
 * @example
 * const h = signatureHeaders('5d1c…', new Date(), '{"type":"ping"}', [secret]);
 * new Webhook(secret).verify('{"type":"ping"}', h); // passes
 */
export function signatureHeaders(
  messageId: string,
  at: Date,
  body: string,
  secrets: readonly string[],
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((s) => new Webhook(s).sign(messageId, at, body)).join(' '),
  };
}
