/** How the gateway delivers webhooks (WEBHOOK_* variables, src/config.ts). */
export interface WebhookOptions {
  /** How often an instance looks for due messages (ms); 0: no delivery worker in this process. */
  pollMs: number;
  /** Give up on a message this long after its first attempt (ms), then disable its endpoint. */
  retryMs: number;
  /** First retry delay (ms), doubled at each attempt up to backoffMaxMs, with jitter. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Whole-request bound (connect, send, response): past it the attempt fails (ms). */
  timeoutMs: number;
  /** Deliver to loopback, private, link-local, unique-local and unspecified addresses (tests, closed networks). */
  allowPrivate: boolean;
  /** Messages claimed per round. */
  batchSize: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = {
  pollMs: 1000,
  retryMs: 3 * 86_400_000,
  backoffBaseMs: 5000,
  backoffMaxMs: 3_600_000,
  timeoutMs: 10_000,
  allowPrivate: false,
  batchSize: 20,
};

/**
 * How long a claim lasts: past it another instance (or this one after a
 * restart) may attempt the message again. Longer than any attempt can take,
 * so two instances never attempt one message at the same time.
 */
export function leaseMs(options: Pick<WebhookOptions, 'timeoutMs'>): number {
  return 2 * options.timeoutMs + 1000;
}
