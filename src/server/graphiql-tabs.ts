/**
 * GraphiQL's tabs when it first opens: the README's quick start, one tab per
 * operation in its order with its variables and headers, and the seat usage
 * subscription of "Live utilization". test/e2e/readme.test.ts checks that
 * they are the README's blocks, character for character.
 */
export interface GraphiQLTab {
  query: string;
  variables: string | null;
  headers: string | null;
}

export const GRAPHIQL_TABS: readonly GraphiQLTab[] = [
  {
    query: `mutation CreateOrganization {
  createOrganization(input: { name: "Acme Contact Center", catalog: "connect-storm", customerRef: "CUST-40950" }) {
    organization { id name catalog { code products { code kind allocation } } }
  }
}
`,
    variables: null,
    headers: `{ "Authorization": "Bearer dev-operator-token-change-me" }
`,
  },
  {
    query: `mutation CreateAdminToken($organizationId: ID!) {
  createApiToken(input: { organizationId: $organizationId, role: ADMIN, label: "admin console" }) {
    token
    apiToken { id role }
  }
}
`,
    variables: `{ "organizationId": "<CreateOrganization: createOrganization.organization.id>" }
`,
    headers: `{ "Authorization": "Bearer dev-operator-token-change-me" }
`,
  },
  {
    query: `mutation ActivateLicenseKey($organizationId: ID!, $key: String!) {
  activateLicenseKey(input: { organizationId: $organizationId, key: $key }) {
    license { state keyId validFrom validUntil renewalDueAt cancellationDeadline entitlements { product { code } total } }
  }
}
`,
    variables: `{
  "organizationId": "<CreateOrganization: createOrganization.organization.id>",
  "key": "<npm run keys -- issue: the LK1.… line it printed>"
}
`,
    headers: `{ "Authorization": "Bearer <CreateAdminToken: createApiToken.token>" }
`,
  },
  {
    query: `mutation CreateSite($organizationId: ID!) {
  createSite(input: { organizationId: $organizationId, name: "Berlin" }) { site { id } }
}
`,
    variables: `{ "organizationId": "<CreateOrganization: createOrganization.organization.id>" }
`,
    headers: `{ "Authorization": "Bearer <CreateAdminToken: createApiToken.token>" }
`,
  },
  {
    query: `mutation CreateAgentsGroup($siteId: ID!) {
  createConfigurationGroup(input: { siteId: $siteId, name: "Agents", functions: ["BASE", "AGENT_SEAT", "VOICE"] }) {
    configurationGroup { id functions { code } }
  }
}
`,
    variables: `{ "siteId": "<CreateSite: createSite.site.id>" }
`,
    headers: `{ "Authorization": "Bearer <CreateAdminToken: createApiToken.token>" }
`,
  },
  {
    query: `mutation CreateUser($siteId: ID!, $groupId: ID!) {
  createUser(input: { siteId: $siteId, name: "Ada", role: AGENT, configurationGroupId: $groupId }) { user { id status } }
}
`,
    variables: `{
  "siteId": "<CreateSite: createSite.site.id>",
  "groupId": "<CreateAgentsGroup: createConfigurationGroup.configurationGroup.id>"
}
`,
    headers: `{ "Authorization": "Bearer <CreateAdminToken: createApiToken.token>" }
`,
  },
  {
    query: `query Organization($organizationId: ID!) {
  organization(id: $organizationId) {
    activeUsers activeUsersInBillingPeriod
    license { state validUntil demoAgentLimit entitlements { product { code } quantity total } }
    warnings { code message }
    users(first: 10) { totalCount edges { node { name status site { name } } } pageInfo { hasNextPage endCursor } }
  }
}
`,
    variables: `{ "organizationId": "<CreateOrganization: createOrganization.organization.id>" }
`,
    headers: `{ "Authorization": "Bearer <CreateAdminToken: createApiToken.token>" }
`,
  },
  {
    query: `subscription SeatUsage($organizationId: ID!) {
  seatUsage(organizationId: $organizationId) {
    at pools { product { code } inUse capacity emergencyInUse emergencyCapacity overageInUse maxPossible peakToday }
  }
}
`,
    variables: `{ "organizationId": "<CreateOrganization: createOrganization.organization.id>" }
`,
    headers: `{ "Authorization": "Bearer <CreateAdminToken: createApiToken.token>" }
`,
  },
];
