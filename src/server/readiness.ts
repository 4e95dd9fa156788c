import type { Clock } from '../clock.ts';
import { ping, type Db } from '../db/database.ts';
import { migrationsApplied } from '../db/migrate.ts';

/** How long /readyz waits for the database before it answers 503. */
const READINESS_TIMEOUT_MS = 2000;

export interface Readiness {
  ready: boolean;
  database: boolean | null;
  migrations: boolean | null;
  clock?: {
    ok: boolean;
    skewSeconds: number | null;
    maxSkewSeconds: number;
    roundTripMs: number | null;
    measuredAt: string | null;
    message: string;
  } | null;
  draining: boolean;
}

/** The answer of /readyz: database reachable, migrations applied, clock within the bound (R-LIFE-6), not draining. */
export function createReadiness(deps: { db: Db; clock: Clock; draining: () => boolean }): () => Promise<Readiness> {
  const { db, clock, draining } = deps;
  return async () => {
    if (draining()) return { ready: false, database: null, migrations: null, draining: true };
    // A database that does not answer within READINESS_TIMEOUT_MS counts as down (a hung connect would
    // otherwise hold the probe for the pool's whole connection timeout).
    const database = await withTimeout(ping(db), READINESS_TIMEOUT_MS, false);
    const migrations = database && (await withTimeout(migrationsApplied(db), READINESS_TIMEOUT_MS, false));
    // R-LIFE-6: an instance whose clock is off the database's beyond the bound is not ready (null: a test clock).
    const health = clock.health?.() ?? null;
    const clockState = health && {
      ok: health.ok,
      skewSeconds: health.skewMs === null ? null : health.skewMs / 1000,
      maxSkewSeconds: health.maxSkewMs / 1000,
      roundTripMs: health.roundTripMs,
      measuredAt: health.measuredAt?.toISOString() ?? null,
      message: health.message,
    };
    const stopping = draining();
    return {
      ready: database && migrations && (health?.ok ?? true) && !stopping,
      database,
      migrations,
      clock: clockState,
      draining: stopping,
    };
  };
}

function withTimeout<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    void work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback);
      },
    );
  });
}
