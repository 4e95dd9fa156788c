import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Table types. Only this file names them; code uses the aliases below. */
export interface Database {
  organizations: OrganizationsTable;
  sites: SitesTable;
  configuration_groups: ConfigurationGroupsTable;
  teams: TeamsTable;
  users: UsersTable;
  user_status_history: UserStatusHistoryTable;
  api_tokens: ApiTokensTable;
  events: EventsTable;
  license_keys: LicenseKeysTable;
  assignments: AssignmentsTable;
  user_settings: UserSettingsTable;
  license_slots: LicenseSlotsTable;
  seat_pools: SeatPoolsTable;
  sessions: SessionsTable;
  session_seats: SessionSeatsTable;
  seat_bounds: SeatBoundsTable;
  usage_changes: UsageChangesTable;
  user_grants: UserGrantsTable;
  user_security_keys: UserSecurityKeysTable;
  stored_allocations: StoredAllocationsTable;
}

/**
 * The allocation's figures as the last write that computed them stored them,
 * under the organization's revision of their inputs (migration 0013; see
 * src/allocation/stored.ts).
 */
export interface StoredAllocationsTable {
  organization_id: string;
  revision: number;
  catalog_fingerprint: string;
  computed_at: Timestamp;
  /** JSON (jsonb): written as text, read back parsed. */
  figures: ColumnType<unknown, string, string>;
}

/** A user with a hardware security key enrolled (migration 0011, R-2FA-2). */
export interface UserSecurityKeysTable {
  organization_id: string;
  user_id: string;
  enrolled_at: Timestamp;
}

type Timestamp = ColumnType<Date, Date, Date>;

export interface OrganizationsTable {
  id: string;
  name: string;
  catalog_code: string;
  /** Unique among organizations when set (migration 0008). */
  customer_ref: string | null;
  /** The latest time seen for this organization (R-LIFE-6). */
  clock_high_water: Timestamp | null;
  created_at: Timestamp;
  /** Last recorded licence state and key, to detect STATE_CHANGED. */
  license_state: Generated<string>;
  license_key_id: string | null;
  /** When the licence state next changes by time alone. */
  license_check_at: Timestamp | null;
  /** Bumped by triggers whenever an allocation or licence-status input of the organization changes (migration 0005). */
  revision: Generated<number>;
}

export interface SitesTable {
  organization_id: string;
  id: string;
  name: string;
  created_at: Timestamp;
}

export interface ConfigurationGroupsTable {
  organization_id: string;
  id: string;
  site_id: string;
  name: string;
  /** Product codes (jsonb array). */
  functions: ColumnType<string[], string, string>;
  options: ColumnType<string[], string, string>;
  created_at: Timestamp;
}

export interface TeamsTable {
  organization_id: string;
  id: string;
  name: string;
  leader_id: string | null;
  created_at: Timestamp;
}

export interface UsersTable {
  organization_id: string;
  id: string;
  site_id: string;
  configuration_group_id: string | null;
  team_id: string | null;
  name: string;
  email: string | null;
  role: string;
  status: string;
  created_at: Timestamp;
}

export interface UserStatusHistoryTable {
  organization_id: string;
  user_id: string;
  at: Timestamp;
  seq: Generated<string>;
  /** PREPARING, ACTIVE, INACTIVE, or DELETED when the user left. */
  status: string;
}

export interface ApiTokensTable {
  organization_id: string;
  id: string;
  role: string;
  label: string | null;
  token_hash: string;
  created_at: Timestamp;
  revoked_at: Timestamp | null;
  /** After this instant the token is refused like a revoked one; null: never (migration 0007). */
  expires_at: Timestamp | null;
  /** A recent use, written at most about once a minute per token (migration 0007). */
  last_used_at: Timestamp | null;
}

export interface EventsTable {
  organization_id: string;
  id: string;
  at: Timestamp;
  type: string;
  user_id: string | null;
  product_code: string | null;
  detail: string | null;
  api_token_id: string | null;
  /** "operator", "token:<id>" or "system". */
  actor: string;
  /** SESSION_DENIED only: the DenialCode of the refused start (migration 0010); null for every other type. */
  denial_code: string | null;
}

export interface LicenseKeysTable {
  organization_id: string;
  /** Activation order. */
  seq: Generated<number>;
  /** Unique across all organizations: a key activates once (migration 0008). */
  key_id: string;
  kid: string;
  payload: ColumnType<unknown, string, string>;
  raw: string;
  activated_at: Timestamp;
  activated_by: string;
}

export interface AssignmentsTable {
  organization_id: string;
  user_id: string;
  product_code: string;
  source: 'DIRECT' | 'GROUP';
  configured_at: Timestamp;
}

export interface UserSettingsTable {
  organization_id: string;
  user_id: string;
  product_code: string;
  name: string;
  value: string;
  updated_at: Timestamp;
}

export interface LicenseSlotsTable {
  organization_id: string;
  product_code: string;
  slot_no: number;
  holder_user_id: string | null;
  window_start: Timestamp | null;
  early_used: boolean;
}

export interface SeatPoolsTable {
  organization_id: string;
  product_code: string;
  capacity: number;
  emergency_capacity: number;
  overage_allowed: boolean;
  overage_grace_minutes: number;
  /** Every seat in use: regular up to capacity, then emergency, then overage. */
  in_use: Generated<number>;
  peak_day: ColumnType<string | null, string | null, string | null>;
  peak_today: Generated<number>;
}

export interface SessionsTable {
  organization_id: string;
  id: string;
  user_id: string;
  seat_kind: string;
  started_at: Timestamp;
  expires_at: Timestamp;
  ended_at: Timestamp | null;
  end_reason: string | null;
  channels: ColumnType<string[], string, string>;
  device_id: string | null;
  api_token_id: string | null;
}

export interface SessionSeatsTable {
  organization_id: string;
  session_id: string;
  product_code: string;
  seat_kind: string;
  channel: string | null;
  /** The site and configuration group of the holder when the seat was taken (migration 0012, R-RES): null before. */
  site_id: ColumnType<string | null, string | null | undefined, string | null>;
  configuration_group_id: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A reservation and cap of one product on a site (configuration_group_id null) or a group (R-RES, migration 0012). */
export interface SeatBoundsTable {
  organization_id: string;
  product_code: string;
  site_id: string;
  configuration_group_id: string | null;
  reserved: number;
  cap: number | null;
}

export interface UsageChangesTable {
  organization_id: string;
  product_code: string;
  seq: Generated<number>;
  at: Timestamp;
  in_use: number;
  capacity: number;
  emergency_capacity: number;
}

export interface UserGrantsTable {
  organization_id: string;
  user_id: string;
  product_code: string;
  status: string;
}

export type SeatPoolRow = Selectable<SeatPoolsTable>;
export type SessionRow = Selectable<SessionsTable>;
export type SessionSeatRow = Selectable<SessionSeatsTable>;
/** A seat row as inserted: the holder's site and group may be left out (they then count against no unit). */
export type NewSessionSeat = Insertable<SessionSeatsTable>;
export type SeatBoundRow = Selectable<SeatBoundsTable>;
export type AssignmentRow = Selectable<AssignmentsTable>;
export type UserSettingRow = Selectable<UserSettingsTable>;
export type LicenseSlotRow = Selectable<LicenseSlotsTable>;
export type OrganizationRow = Selectable<OrganizationsTable>;
export type NewOrganization = Insertable<OrganizationsTable>;
export type LicenseKeyRow = Selectable<LicenseKeysTable>;
export type SiteRow = Selectable<SitesTable>;
export type ConfigurationGroupRow = Selectable<ConfigurationGroupsTable>;
export type TeamRow = Selectable<TeamsTable>;
export type UserRow = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
export type EventRow = Selectable<EventsTable>;
