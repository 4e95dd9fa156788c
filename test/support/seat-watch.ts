import type { Client } from 'graphql-ws';

/** One pool's `inUse` as a graphql-ws `seatUsage` subscriber sees it. */
export interface SeatWatch {
  /** Every value seen, in order. */
  seen: number[];
  /** Errors the subscription reported (GraphQL errors of a result, or the subscription's error). */
  errors: unknown[];
  /** Resolves once the pool's inUse has been `value` (or at once on an error: check `errors`). */
  until(value: number): Promise<void>;
}

/** Subscribes `client` to the organization's seatUsage and follows `product`'s inUse. */
export function watchSeatUsage(client: Client, organizationId: string, product: string): SeatWatch {
  const seen: number[] = [];
  const errors: unknown[] = [];
  const waiters: { value: number; resolve: () => void }[] = [];
  client.subscribe<{ seatUsage: { pools: { product: { code: string }; inUse: number }[] } }>(
    {
      query: `subscription($id: ID!) { seatUsage(organizationId: $id) { pools { product { code } inUse } } }`,
      variables: { id: organizationId },
    },
    {
      next: (value) => {
        if (value.errors) errors.push(...value.errors);
        const inUse = value.data?.seatUsage.pools.find((p) => p.product.code === product)?.inUse;
        if (inUse === undefined) return;
        seen.push(inUse);
        for (const w of waiters.filter((w) => w.value === inUse)) w.resolve();
      },
      error: (error) => {
        errors.push(error);
        for (const w of waiters) w.resolve();
      },
      complete: () => undefined,
    },
  );
  return {
    seen,
    errors,
    until: (value) => (seen.includes(value) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ value, resolve }))),
  };
}
