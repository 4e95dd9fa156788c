import type { GraphQLError } from 'graphql';
import { forbidden, unauthenticated } from '../errors.ts';
import { type Principal, principalOf, type Viewer } from './principal.ts';

export { PRINCIPALS, type Principal, principalOf } from './principal.ts';

/**
 * Who may read which field (R-SEC-5): every `Type.field` of the schema has
 * one reach, in the table below and nowhere else. `schema/builder.ts` hands
 * the table to Pothos' scope-auth plugin (see reach-plugin.ts), so the check
 * runs on every field however it is reached: queries, `viewer`, mutation
 * payloads, subscription events. A refused field is a FORBIDDEN error naming
 * `Type.field` and R-SEC-5 (UNAUTHENTICATED without a token), and null in
 * data; on a non-null field the null goes up to the nearest nullable parent,
 * as GraphQL prescribes.
 *
 * Root resolvers still check the organization of the ids they are given
 * (R-SEC-2: another organization's object is NOT_FOUND); the table decides by
 * role alone.
 *
 * A field missing from the table is reachable by the operator only, and
 * test/unit/reach.test.ts fails until it is listed.
 *
 * @example
 * REACH.User.email;            // 'read': ADMIN, SUPERVISOR, INTEGRATOR and the operator
 * allows(viewer, reachOf('User', 'email'));
 */
export const REACH_RULE = 'R-SEC-5';

/**
 * The reach levels: who each one lets in. The operator is in every level.
 *
 * - `public`: anyone, without a token (the catalogs).
 * - `agent`: every token, AGENT_CLIENT included: what an ACD or softphone back
 *   end needs besides its mutations (the caller, a session, the id and name of
 *   its user).
 * - `sessions`: startSession, heartbeat, endSession and their results.
 * - `read`: the organization's data, for ADMIN, SUPERVISOR and INTEGRATOR.
 * - `admin`: changes and what only a change returns (a new token's secret).
 * - `operator`: the platform operator alone.
 */
export const LEVELS = {
  public: ['OPERATOR', 'ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT', 'ANONYMOUS'],
  agent: ['OPERATOR', 'ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'],
  sessions: ['OPERATOR', 'ADMIN', 'AGENT_CLIENT'],
  read: ['OPERATOR', 'ADMIN', 'SUPERVISOR', 'INTEGRATOR'],
  admin: ['OPERATOR', 'ADMIN'],
  operator: ['OPERATOR'],
} as const satisfies Record<string, readonly Principal[]>;

export type Reach = keyof typeof LEVELS;

/** Every field of a type, with its reach. */
type Fields = Readonly<Record<string, Reach>>;

/** Shorthand for a type whose fields all have one reach; the fields are still listed one by one. */
function all(reach: Reach, fields: readonly string[]): Fields {
  return Object.fromEntries(fields.map((f) => [f, reach]));
}

/**
 * The table. Every object type of the schema, every field listed by name
 * (never a default for the fields of a type, so that a new field is noticed).
 */
export const REACH: Readonly<Record<string, Fields>> = {
  // Roots. The table decides by role; the resolvers add the organization check (R-SEC-2).
  Query: {
    catalog: 'public',
    catalogs: 'public',
    viewer: 'agent',
    organization: 'read',
    organizations: 'operator',
    site: 'read',
    team: 'read',
    user: 'read',
    // One session by id, for supervisors (an AGENT_CLIENT has its own sessions from startSession and heartbeat).
    session: 'read',
    // Any object by id, within the caller's organization (API tokens and webhooks only for ADMIN: src/tenancy/node.service.ts).
    node: 'read',
    nodes: 'read',
  },
  Mutation: {
    startSession: 'sessions',
    heartbeat: 'sessions',
    endSession: 'sessions',
    changeSessionChannels: 'sessions',
    createOrganization: 'operator',
    updateOrganization: 'operator',
    ...all('admin', [
      'activateLicenseKey',
      'assignLicense',
      'createApiToken',
      'createConfigurationGroup',
      'createSite',
      'createTeam',
      'createUser',
      'deleteUser',
      'moveUsers',
      'revokeApiToken',
      'setUserSetting',
      'setSeatBound',
      'unassignLicense',
      'updateConfigurationGroup',
      'updateUserStatus',
      'setUserSecurityKeyEnrolled',
      'createWebhookEndpoint',
      'updateWebhookEndpoint',
      'deleteWebhookEndpoint',
      'rotateWebhookSecret',
      'redeliverWebhookMessage',
      'sendWebhookPing',
      // The admin API (src/tenancy/admin.schema.ts).
      'renameSite',
      'deleteSite',
      'renameConfigurationGroup',
      'deleteConfigurationGroup',
      'renameTeam',
      'setTeamLeader',
      'addTeamMembers',
      'removeTeamMembers',
      'deleteTeam',
      'updateUser',
      'importUsers',
    ]),
  },
  Subscription: { licenseEvents: 'read', seatUsage: 'read' },

  // The caller. AGENT_CLIENT sees who it is and its organization's id, nothing of the organization beyond that.
  Viewer: all('agent', ['kind', 'role', 'organization']),

  // Seats: what the ACD or softphone back end gets back.
  StartSessionPayload: all('sessions', ['granted', 'session', 'denial', 'grantedChannels', 'deniedChannels']),
  HeartbeatPayload: all('sessions', ['session']),
  EndSessionPayload: all('sessions', ['session']),
  ChangeSessionChannelsPayload: all('sessions', ['session', 'addedChannels', 'removedChannels', 'deniedChannels']),
  Denial: all('sessions', ['code', 'message']),
  ChannelDenial: all('sessions', ['channel', 'code', 'message']),
  // Also reached by readers through User.sessions.
  Session: all('agent', [
    'id',
    'user',
    'seatKind',
    'startedAt',
    'expiresAt',
    'endedAt',
    'endReason',
    'channels',
    'deviceId',
    'channelUnits',
  ]),
  SessionChannelUnit: all('agent', ['channel', 'product', 'kind']),

  // Organization data. AGENT_CLIENT gets the id and name of the user it logs in, and the id of its organization.
  User: {
    id: 'agent',
    name: 'agent',
    ...all('read', [
      'email',
      'role',
      'status',
      'createdAt',
      'site',
      'configurationGroup',
      'team',
      'licenses',
      'explain',
      'warnings',
      'settings',
      'sessions',
      'securityKeyEnrolled',
    ]),
  },
  Organization: {
    id: 'agent',
    // customerRef: the vendor's customer number. Not a credential (a key must also be signed by the vendor and
    // activated by ADMIN) and already in the KEY_ACTIVATED event's detail: readers see it.
    ...all('read', [
      'name',
      'customerRef',
      'catalog',
      'sites',
      'teams',
      'activeUsers',
      'activeUsersInBillingPeriod',
      'users',
      'license',
      'licenseMapping',
      'addOnCoverage',
      'warnings',
      'seatUsage',
      'usage',
      'seatHistory',
      'events',
      // Who holds the seats now, and the daily usage chart: readers, never an AGENT_CLIENT (it sees its own sessions only).
      'openSessions',
      'usagePerDay',
      'siteConnection',
      'teamConnection',
    ]),
    // The history of activated keys (who activated which, and when): ADMIN only.
    licenseKeys: 'admin',
    // The organization's API tokens (labels, roles, last use; never a hash): ADMIN only.
    apiTokens: 'admin',
    // Endpoints and their delivery logs: ADMIN only (a signing secret is never readable, only returned at create/rotate).
    webhookEndpoints: 'admin',
    // Billing figures, as the CSV export (R-BILL-3): ADMIN only.
    billing: 'admin',
  },
  // The operator's list of every organization (the dashboard's picker).
  OrganizationConnection: all('operator', ['edges', 'pageInfo']),
  OrganizationEdge: all('operator', ['cursor', 'node']),
  Site: all('read', ['id', 'name', 'organization', 'configurationGroups', 'users', 'licenseOverview']),
  ConfigurationGroup: all('read', ['id', 'name', 'site', 'functions', 'options', 'users']),
  Team: all('read', ['id', 'name', 'leader', 'members', 'analyticsAccess', 'memberConnection']),
  SiteConnection: all('read', ['edges', 'pageInfo']),
  SiteEdge: all('read', ['cursor', 'node']),
  TeamConnection: all('read', ['edges', 'pageInfo']),
  TeamEdge: all('read', ['cursor', 'node']),
  TeamMemberConnection: all('read', ['edges', 'pageInfo', 'totalCount']),
  TeamMemberEdge: all('read', ['cursor', 'node']),
  UserConnection: all('read', ['edges', 'pageInfo', 'totalCount']),
  UserEdge: all('read', ['cursor', 'node']),
  PageInfo: all('read', ['hasNextPage', 'hasPreviousPage', 'startCursor', 'endCursor']),
  UserLicense: all('read', ['product', 'source', 'status', 'rank', 'configuredAt', 'coveredBy']),
  UserSetting: all('read', ['function', 'name', 'value', 'updatedAt']),
  Explanation: all('read', ['product', 'granted', 'steps', 'details']),
  ExplanationStep: all('read', ['code', 'text', 'parameters']),
  ExplanationParameter: all('read', ['name', 'value']),
  Warning: all('read', ['code', 'message', 'product', 'user', 'site', 'team']),
  AnalyticsAccess: all('read', ['allowed', 'membersRequiringLicense', 'unlicensedMembers']),
  SiteLicenseRow: all('read', ['product', 'required', 'granted', 'shortage']),
  LicenseMappingRow: all('read', [
    'product',
    'licenseType',
    'total',
    'inUse',
    'reusable',
    'available',
    'unitsTotal',
    'concurrentTotal',
    'concurrentInUse',
    'concurrentAvailable',
    'emergencyTotal',
    'emergencyInUse',
    'emergencyAvailable',
    'emergencyPeakThisPeriod',
    'units',
  ]),
  AddOnCoverage: all('read', ['addOn', 'usersRequiring', 'coveredByBundle', 'purchased', 'shortfall']),
  // The licence: state, dates and counts. keyId and pendingKeyId name a key (the dashboard shows them); no field
  // carries a key's payload or signature.
  LicenseStatus: all('read', [
    'state',
    'keyId',
    'validFrom',
    'validUntil',
    'graceUntil',
    'renewalDueAt',
    'cancellationDeadline',
    'autoRenew',
    'demoAgentLimit',
    'entitlements',
    'units',
    'fullUse',
    'pendingKeyId',
    'pendingKeyValidFrom',
    'evaluatedAt',
  ]),
  Entitlement: all('read', [
    'product',
    'quantity',
    'total',
    'allocation',
    'unitsTotal',
    'emergencyQuantity',
    'overageAllowed',
    'overageGraceMinutes',
  ]),
  UnitTotal: all('read', ['unit', 'total']),
  // Seat usage is also sent to subscribers, one shared execution per snapshot: the same reach for every subscriber.
  SeatUsage: all('read', ['organizationId', 'at', 'pools']),
  PoolUsage: all('read', [
    'product',
    'capacity',
    'inUse',
    'emergencyCapacity',
    'emergencyInUse',
    'overageInUse',
    'maxPossible',
    'peakToday',
    'deniedToday',
    'units',
  ]),
  SeatUnitUsage: all('read', ['siteId', 'siteName', 'configurationGroupId', 'configurationGroupName', 'reserved', 'cap', 'inUse']),
  UsageRow: all('read', ['product', 'peakConcurrent', 'emergencyPeak', 'overageEpisodes', 'billableOverage']),
  OverageEpisode: all('read', ['startedAt', 'endedAt', 'peakExcess', 'peakExcessInInterval', 'billable']),
  BillingReport: all('admin', ['period', 'from', 'to', 'complete', 'activeUsers', 'overageInvoicedIn', 'rows']),
  BillingRow: all('admin', [
    'product',
    'licensed',
    'emergencyLicensed',
    'peakConcurrent',
    'emergencyPeak',
    'billableOverage',
    'overageEpisodes',
  ]),
  SeatHistoryPoint: all('read', ['product', 'at', 'inUse']),
  UsageDay: all('read', ['day', 'from', 'to', 'rows']),
  SessionConnection: all('read', ['edges', 'pageInfo', 'totalCount']),
  SessionEdge: all('read', ['cursor', 'node']),
  LicenseEvent: all('read', ['id', 'at', 'type', 'user', 'userId', 'product', 'detail', 'denialCode', 'actor', 'apiTokenId']),
  LicenseEventConnection: all('read', ['edges', 'pageInfo', 'totalCount']),
  LicenseEventEdge: all('read', ['cursor', 'node']),

  // What only a change returns.
  ApiToken: all('admin', ['id', 'role', 'label', 'organization', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt']),
  ApiTokenConnection: all('admin', ['edges', 'pageInfo']),
  ApiTokenEdge: all('admin', ['cursor', 'node']),
  CreateApiTokenPayload: all('admin', ['token', 'apiToken']),
  RevokeApiTokenPayload: all('admin', ['apiTokenId', 'apiToken']),
  CreateOrganizationPayload: all('admin', ['organization']),
  CreateSitePayload: all('admin', ['site']),
  CreateTeamPayload: all('admin', ['team']),
  CreateUserPayload: all('admin', ['user']),
  UpdateUserStatusPayload: all('admin', ['user', 'changes']),
  SetUserSecurityKeyEnrolledPayload: all('admin', ['user']),
  DeleteUserPayload: all('admin', ['deletedUserId', 'changes']),
  CreateConfigurationGroupPayload: all('admin', ['configurationGroup']),
  UpdateConfigurationGroupPayload: all('admin', ['configurationGroup', 'released', 'deletedSettings', 'changes']),
  ChangeReport: all('admin', ['applied', 'licencesGained', 'licencesLost', 'pools', 'sessionsEnded']),
  LicenceChange: all('admin', ['userId', 'product']),
  PoolChange: all('admin', [
    'product',
    'capacityBefore',
    'capacityAfter',
    'emergencyCapacityBefore',
    'emergencyCapacityAfter',
    'inUse',
    'sessionsBeyond',
  ]),
  EndedSessionChange: all('admin', ['sessionId', 'userId']),
  SetSeatBoundPayload: all('admin', ['applied', 'product', 'siteId', 'configurationGroupId', 'reserved', 'cap', 'inUse', 'overCap']),
  MoveUsersPayload: all('admin', ['applied', 'users', 'released', 'deletedSettings', 'warnings']),
  ReleasedLicense: all('admin', ['user', 'product']),
  DeletedSetting: all('admin', ['user', 'function', 'name']),
  AssignLicensePayload: all('admin', ['user', 'license', 'changes']),
  UnassignLicensePayload: all('admin', ['user', 'changes']),
  SetUserSettingPayload: all('admin', ['user']),
  ActivateLicenseKeyPayload: all('admin', ['license', 'organization', 'changes']),
  LicenseKeyActivation: all('admin', ['keyId', 'state', 'activatedAt', 'activatedBy', 'validFrom', 'validUntil', 'graceUntil']),
  // The admin API's payloads.
  UpdateOrganizationPayload: all('admin', ['organization']),
  RenameSitePayload: all('admin', ['site']),
  RenameConfigurationGroupPayload: all('admin', ['configurationGroup']),
  TeamPayload: all('admin', ['team']),
  DeletePayload: all('admin', ['applied', 'deletedId', 'consequences']),
  DeleteTeamPayload: all('admin', ['applied', 'deletedTeamId', 'movedUsers']),
  UpdateUserPayload: all('admin', ['applied', 'user', 'consequences']),
  ImportUsersPayload: all('admin', ['applied', 'created', 'refused', 'rows']),
  ImportUserResult: all('admin', ['index', 'created', 'userId', 'field', 'rule', 'message']),

  // Webhooks (src/webhooks/): the secret only in the create and rotate payloads.
  WebhookEndpoint: all('admin', ['id', 'url', 'eventTypes', 'enabled', 'disabledReason', 'createdAt', 'updatedAt', 'deliveries']),
  WebhookDelivery: all('admin', ['id', 'message', 'attempt', 'at', 'httpStatus', 'durationMs', 'succeeded', 'error']),
  WebhookDeliveryConnection: all('admin', ['edges', 'pageInfo']),
  WebhookDeliveryEdge: all('admin', ['cursor', 'node']),
  WebhookMessage: all('admin', [
    'id',
    'eventType',
    'eventId',
    'status',
    'attempts',
    'createdAt',
    'nextAttemptAt',
    'deliveredAt',
    'lastError',
  ]),
  CreateWebhookEndpointPayload: all('admin', ['endpoint', 'secret']),
  RotateWebhookSecretPayload: all('admin', ['endpoint', 'secret']),
  UpdateWebhookEndpointPayload: all('admin', ['endpoint']),
  DeleteWebhookEndpointPayload: all('admin', ['deletedEndpointId']),
  WebhookMessagePayload: all('admin', ['message']),

  // The product catalogs: public (Query.catalogs needs no token).
  Catalog: all('public', ['code', 'name', 'vendor', 'maxUsers', 'options', 'products']),
  Product: all('public', [
    'code',
    'name',
    'description',
    'kind',
    'allocation',
    'allocationChoices',
    'channel',
    'unit',
    'unitsPerLicense',
    'includes',
    'requirements',
    'reassignCooldownDays',
    'settings',
    'whenExhausted',
  ]),
  ProductSetting: all('public', ['name', 'description']),
  Requirement: all('public', ['anyOf', 'condition', 'minQuantity', 'scope']),
};

/** The reach of `Type.field`; a field the table does not list is the operator's alone. */
export function reachOf(type: string, field: string): Reach {
  return REACH[type]?.[field] ?? 'operator';
}

/** True when the table lists `Type.field`. */
export function listed(type: string, field: string): boolean {
  return REACH[type]?.[field] !== undefined;
}

export function allows(viewer: Viewer, reach: Reach): boolean {
  return (LEVELS[reach] as readonly Principal[]).includes(principalOf(viewer));
}

/** The refusal of `Type.field` for `viewer`: UNAUTHENTICATED without a token, FORBIDDEN otherwise; both name the field and R-SEC-5. */
export function refusal(viewer: Viewer, type: string, field: string): GraphQLError {
  const coordinate = `${type}.${field}`;
  const reach = reachOf(type, field);
  let error: GraphQLError;
  if (viewer.kind === 'anonymous') {
    error = unauthenticated(`${coordinate}: a valid API token is required: Authorization: Bearer <token> (${REACH_RULE})`);
  } else if (reach === 'operator') {
    error = forbidden(`${coordinate}: only the platform operator (OPERATOR_TOKEN) may do this (${REACH_RULE})`);
  } else {
    const action =
      type === 'Mutation'
        ? reach === 'sessions'
          ? 'manage sessions'
          : 'change this'
        : type === 'Subscription'
          ? 'subscribe'
          : 'read this';
    const roles = LEVELS[reach].filter((p) => p !== 'OPERATOR' && p !== 'ANONYMOUS');
    error = forbidden(`${coordinate}: role ${principalOf(viewer)} may not ${action}; needs ${roles.join(' or ')} (${REACH_RULE})`);
  }
  Object.assign(error.extensions, { field: coordinate, rule: REACH_RULE });
  return error;
}

/**
 * The table as the README's "Security" section shows it: one row per level,
 * with who it lets in and its fields (`Type.*` when a type has no other
 * level). test/unit/reach.test.ts checks the README carries exactly this.
 */
export function reachMarkdown(): string {
  const columns: { principal: Principal; title: string }[] = [
    { principal: 'OPERATOR', title: 'operator' },
    { principal: 'ADMIN', title: 'ADMIN' },
    { principal: 'SUPERVISOR', title: 'SUPERVISOR' },
    { principal: 'INTEGRATOR', title: 'INTEGRATOR' },
    { principal: 'AGENT_CLIENT', title: 'AGENT_CLIENT' },
    { principal: 'ANONYMOUS', title: 'no token' },
  ];
  const lines = [`| reach | ${columns.map((c) => c.title).join(' | ')} | fields |`, `|---|${columns.map(() => ':-:').join('|')}|---|`];
  for (const reach of Object.keys(LEVELS) as Reach[]) {
    const parts: string[] = [];
    for (const [type, fields] of Object.entries(REACH).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const here = Object.keys(fields)
        .filter((f) => fields[f] === reach)
        .sort();
      if (here.length === 0) continue;
      parts.push(
        here.length === Object.keys(fields).length
          ? `${type}.*`
          : here.length === 1
            ? `${type}.${here[0]}`
            : `${type}.{${here.join(', ')}}`,
      );
    }
    const who = columns.map((c) => ((LEVELS[reach] as readonly Principal[]).includes(c.principal) ? '✓' : '')).join(' | ');
    lines.push(`| \`${reach}\` | ${who} | ${parts.join(', ')} |`);
  }
  return lines.join('\n');
}
