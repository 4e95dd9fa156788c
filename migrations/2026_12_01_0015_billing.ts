import { sql, type Kysely } from 'kysely';

/*
 * R-CHAN-2: a session's seat_kind is its seat's kind. Sessions stored before
 * took the most exceptional kind of their seat AND their channel units, so a
 * regular seat with an emergency VOICE unit was stored EMERGENCY. Each such
 * session gets its seat's kind back from its session_seats rows (the seat
 * rows have no channel; the unit rows keep their own kinds). Sessions without
 * a seat row (NAMED, or none) and DEMO sessions are left alone. Data only:
 * down() has nothing to restore (the old value was the wrong one).
 */

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    update sessions s
    set seat_kind = case
      when exists (
        select 1 from session_seats x
        where x.organization_id = s.organization_id and x.session_id = s.id and x.channel is null and x.seat_kind = 'OVERAGE'
      ) then 'OVERAGE'
      when exists (
        select 1 from session_seats x
        where x.organization_id = s.organization_id and x.session_id = s.id and x.channel is null and x.seat_kind = 'EMERGENCY'
      ) then 'EMERGENCY'
      else 'REGULAR'
    end
    where s.seat_kind in ('EMERGENCY', 'OVERAGE')
      and exists (
        select 1 from session_seats x
        where x.organization_id = s.organization_id and x.session_id = s.id and x.channel is null
      )
      and not exists (
        select 1 from session_seats x
        where x.organization_id = s.organization_id and x.session_id = s.id and x.channel is null and x.seat_kind = s.seat_kind
      )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function down(_db: Kysely<any>): Promise<void> {
  // Nothing to undo: the kinds up() corrected were wrong, and the code of every release reads the corrected ones.
}
