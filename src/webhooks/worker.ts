import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/database.ts';
import { withTransaction } from '../db/transaction.ts';
import type { EventType } from '../events/event.ts';
import { appendEvents } from '../events/events.repository.ts';
import { newId } from '../ids.ts';
import type { Logger } from 'pino';
import { retryDelayMs } from './backoff.ts';
import { DEFAULT_WEBHOOK_OPTIONS, leaseMs, type WebhookOptions } from './options.ts';
import * as repo from './webhooks.repository.ts';
import { send, type SendResult } from './sender.ts';
import { signatureHeaders } from './signing.ts';

/** The event an endpoint's give-up appends (and announces to the organization's other endpoints). */
export const ENDPOINT_DISABLED_EVENT = 'WEBHOOK_ENDPOINT_DISABLED' satisfies EventType;

export interface WebhookWorkerDeps {
  db: Db;
  /** The clock of record: due times, leases, the retry window and the signature timestamp. */
  clock: Clock;
  logger?: Logger;
  options?: Partial<WebhookOptions>;
  /** Names this instance in leases and the delivery log (default: host, pid and a random suffix). */
  instance?: string;
}

/**
 * Delivers the outbox (webhook_messages), at least once and in order per
 * endpoint, from any number of instances: each round claims due messages
 * with a lease (repository `claimDue`), POSTs each signed message, then
 * records the attempt and its outcome. A 2xx delivers; anything else is
 * retried with exponential backoff and jitter until `retryMs` after the first
 * attempt, then the message is given up, its endpoint disabled and an
 * ENDPOINT_DISABLED_EVENT appended, in one transaction.
 *
 * @example
 * const worker = new WebhookWorker({ db, clock, options: { allowPrivate: true } });
 * await worker.deliverDue(); // one round, by hand (tests)
 * worker.start();            // every pollMs (the app)
 * await worker.stop();       // no new claims; waits for the round under way
 */
export class WebhookWorker {
  readonly options: WebhookOptions;
  readonly instance: string;
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> = Promise.resolve();
  #busy = false;
  #stopped = false;

  constructor(deps: WebhookWorkerDeps) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.options = { ...DEFAULT_WEBHOOK_OPTIONS, ...deps.options };
    this.instance = deps.instance ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  }

  /** Polls every pollMs (nothing when pollMs is 0). */
  start(): void {
    if (this.options.pollMs <= 0 || this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => this.#tick(), this.options.pollMs);
    this.#timer.unref();
    this.#tick();
  }

  /** No new claims; resolves when the round under way has recorded its attempts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  #tick(): void {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    this.#running = (async () => {
      try {
        // A backlog drains round after round without waiting for the next poll.
        for (let round = 0; round < 50 && !this.#stopped; round++) {
          if ((await this.deliverDue()) === 0) break;
        }
      } catch (error) {
        // The next poll tries again; the database's state shows in /readyz.
        this.#logger?.warn({ err: error }, 'webhook delivery round failed');
      } finally {
        this.#busy = false;
      }
    })();
  }

  /** One round: claims due messages and attempts each once. Returns how many were attempted. */
  async deliverDue(): Promise<number> {
    // R-LIFE-6: an instance off the clock of record decides nothing by time; the other instances deliver.
    const health = this.#clock.health?.();
    if (health && !health.ok) return 0;
    const now = this.#clock.now();
    const claimed = await repo.claimDue(
      this.#db,
      now,
      new Date(now.getTime() + leaseMs(this.options)),
      this.instance,
      this.options.batchSize,
    );
    // Each claimed message is the head of a different endpoint: they go out side by side.
    await Promise.all(claimed.map((m) => this.#attempt(m)));
    return claimed.length;
  }

  async #attempt(m: repo.ClaimedMessage): Promise<void> {
    const at = this.#clock.now();
    const body = JSON.stringify(m.payload);
    const secrets =
      m.previous_secret && m.previous_secret_until && m.previous_secret_until.getTime() > at.getTime()
        ? [m.secret, m.previous_secret]
        : [m.secret];
    let result: SendResult;
    try {
      result = await send(m.url, body, signatureHeaders(m.id, at, body, secrets), this.options);
    } catch (error) {
      // A secret that is not valid base64 or a fault of the HTTP stack: a failed attempt like any other.
      result = { status: null, ok: false, durationMs: 0, error: error instanceof Error ? error.message : String(error) };
    }
    const error = result.ok ? null : (result.error ?? `HTTP ${result.status}`);
    try {
      await this.#record(m, at, result, error);
    } catch (recordError) {
      // Not recorded: the lease runs out and the message is attempted again (at least once).
      this.#logger?.warn({ err: recordError, messageId: m.id }, 'webhook attempt could not be recorded');
    }
  }

  async #record(m: repo.ClaimedMessage, at: Date, result: SendResult, error: string | null): Promise<void> {
    const now = this.#clock.now();
    const attempt = {
      id: newId(at),
      organization_id: m.organization_id,
      endpoint_id: m.endpoint_id,
      message_id: m.id,
      attempt: m.attempts,
      at,
      http_status: result.status,
      duration_ms: result.durationMs,
      succeeded: result.ok,
      error: error?.slice(0, 500) ?? null,
      instance: this.instance,
    };
    if (result.ok) {
      await withTransaction(this.#db, async (trx) => {
        await repo.insertAttempt(trx, attempt);
        await repo.markDelivered(trx, m, this.instance, now);
      });
      return;
    }
    const firstAttempt = (m.first_attempt_at ?? at).getTime();
    const giveUp = now.getTime() - firstAttempt >= this.options.retryMs;
    this.#logger?.warn(
      { messageId: m.id, endpointId: m.endpoint_id, attempt: m.attempts, status: result.status, error, giveUp },
      giveUp ? 'webhook given up: disabling the endpoint' : 'webhook attempt failed; will retry',
    );
    await withTransaction(this.#db, async (trx) => {
      await repo.insertAttempt(trx, attempt);
      if (!giveUp) {
        const delay = retryDelayMs(m.attempts, this.options.backoffBaseMs, this.options.backoffMaxMs);
        await repo.scheduleRetry(trx, m, this.instance, new Date(now.getTime() + delay), attempt.error ?? 'failed');
        return;
      }
      if (!(await repo.markFailed(trx, m, this.instance, attempt.error ?? 'failed'))) return;
      const reason = `message ${m.id} (${m.event_type}) not delivered within ${Math.round(this.options.retryMs / 1000)} s: ${attempt.error}`;
      if (await repo.disableEndpoint(trx, m.endpoint_id, reason, now)) {
        await appendEvents(trx, [
          {
            organizationId: m.organization_id,
            type: ENDPOINT_DISABLED_EVENT,
            at: now,
            detail: `${m.endpoint_id}: ${reason}`,
            actor: 'system',
            apiTokenId: null,
          },
        ]);
      }
    });
  }
}
