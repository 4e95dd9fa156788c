import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Clock } from '../clock.ts';
import { clockSkew } from '../errors.ts';

/**
 * R-LIFE-6: an instance whose OS clock is off the clock of record (the
 * database's) by more than CLOCK_SKEW_MAX_SECONDS, or not measured yet,
 * refuses every mutation with CLOCK_SKEW (HTTP 503), over HTTP and graphql-ws
 * alike, before any resolver runs; queries and subscriptions are served.
 * A clock without `health()` (tests' ManualClock) is always fine.
 *
 * @example
 * createYoga({ plugins: [useClockOfRecord(new DbClock({ db, maxSkewMs: 60_000 }))] });
 * // a mutation on an instance 800 days ahead: { errors: [{ extensions: { code: 'CLOCK_SKEW', skewSeconds: 69120000, maxSkewSeconds: 60 } }] }, HTTP 503
 */
export function useClockOfRecord(clock: Clock, onRefused: () => void = () => undefined): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (!clock.health) return;
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      const health = clock.health();
      if (health.ok) return;
      onRefused();
      setResultAndStopExecution({ errors: [clockSkew(health.message, health.skewMs, health.maxSkewMs)] });
    },
  };
}
