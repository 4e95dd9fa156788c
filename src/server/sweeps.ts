import type { AllocationCache } from '../allocation/cache.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/database.ts';
import { sweepLicenseStates } from '../licenses/license.service.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { sweepExpiredSessions } from '../sessions/sweep.ts';

export interface SweepsDeps {
  db: Db;
  clock: Clock;
  catalogs: ReadonlyMap<string, Catalog>;
  /** The app's allocation cache: a licence state change publishes the allocation it stores. */
  allocations: AllocationCache;
  metrics: Metrics;
  logger: Logger;
  /** How often the sweeps run; 0 disables them (tests drive them by hand). */
  intervalMs: number;
}

/** The background work of one app: licence state changes and session expiry, one run at a time. */
export interface Sweeps {
  /** Runs once now, then every intervalMs (nothing when it is 0). */
  start(): void;
  /** No run starts from now on; the one under way, if any, finishes (see settled). */
  stop(): void;
  /** Resolves once the run under way (if any) has finished. */
  settled(): Promise<void>;
}

export function createSweeps(deps: SweepsDeps): Sweeps {
  const { db, clock, catalogs, allocations, metrics, logger } = deps;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let sweeping: Promise<void> = Promise.resolve();

  const sweep = async () => {
    // R-LIFE-6: an instance off the clock of record decides nothing by time; the other instances sweep.
    const health = clock.health?.();
    if (health && !health.ok)
      return void logger.warn(
        { skewSeconds: health.skewMs === null ? null : health.skewMs / 1000 },
        `background sweeps skipped: ${health.message}`,
      );
    try {
      await sweepLicenseStates(db, clock, catalogs, {
        allocations,
        // One organization's bad data fails only that organization; the others are swept.
        onFailure: (organizationId, error) => {
          metrics.sweepFailures.inc({ sweep: 'license' });
          logger.warn({ err: error, organizationId }, 'licence state sweep failed for an organization');
        },
      });
    } catch (error) {
      // The next tick retries; a database outage shows in /readyz.
      logger.warn({ err: error }, 'licence state sweep failed');
    }
    try {
      const expired = await sweepExpiredSessions(db, clock, {
        onError: (organizationId, error) => {
          metrics.sweepFailures.inc({ sweep: 'session_expiry' });
          logger.warn({ err: error, organizationId }, 'session expiry failed for an organization (the others were swept)');
        },
      });
      if (expired > 0) metrics.sessionsExpired.inc(expired);
    } catch (error) {
      logger.warn({ err: error }, 'session expiry sweep failed');
    }
  };
  const run = () => {
    if (stopped) return;
    sweeping = sweeping.then(sweep);
  };

  return {
    start() {
      if (deps.intervalMs <= 0 || stopped || timer) return;
      timer = setInterval(run, deps.intervalMs);
      timer.unref();
      run();
    },
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
    },
    settled: () => sweeping,
  };
}
