/*
 * LOCK ORDER. Every write that touches an organization's row, its users, its
 * seat pools or its sessions takes its row locks in this one order, so no two
 * transactions ever wait on each other in a cycle (PostgreSQL would abort one
 * with "deadlock detected"):
 *
 *   1. the organization row, FOR NO KEY UPDATE (`lockOrganization`), by writes
 *      that change organization-wide state (configuration, users, keys). Never
 *      FOR UPDATE: the foreign-key checks of session, event and usage inserts
 *      take FOR KEY SHARE on that row after a start has taken its pool, and
 *      only FOR UPDATE (or deleting the organization) conflicts with it.
 *   2. user rows: a status change or deletion updates them; a start takes its
 *      user FOR SHARE, so a status change waits for an in-flight start and then
 *      ends the session it opened (and a start after it sees the new status).
 *      Grants and assignments are written only under the organization's lock.
 *   3. seat pools, by product code in byte order (`byCode`, SQL `collate "C"`;
 *      the demo pool `*DEMO` sorts first): a start takes its seat and channel
 *      units in that order; a configuration change upserts all pools in it;
 *      ending sessions locks the pools of their seats (`lockPools`) first.
 *      Reservations and caps (R-RES) add no lock: a start of a bounded pool
 *      counts its seats by site and group under this pool lock (the take's,
 *      or `lockPoolCounter` for a channel unit), and `setSeatBound` takes
 *      the organization, then the pool, like a configuration change.
 *   4. sessions and their seats: changed only after the pools their seats are
 *      in are locked (ending, expiry); a heartbeat's renewal locks its session
 *      alone and waits for nothing after it.
 *
 * A start that would need to expire overdue sessions (its own, or others' in
 * a full pool) rolls back and expires them in a transaction of their own
 * before it tries again, rather than lock their pools out of order. Every
 * transaction runs in `withTransaction` (src/db/transaction.ts), which runs
 * it again on a deadlock or serialization failure should one still happen
 * (a lock this order cannot see, such as one taken in psql).
 *
 * Where each step is taken: start.ts (a start: 2, then 3), end.ts (ending
 * and expiring sessions: 3, then 4), sweep.ts (the background expiry).
 */

/** Product codes in byte order: the pool order of step 3. */
export { byCode } from '../licensing/session-plan.ts';
