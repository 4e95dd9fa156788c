import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { createOrg, startGateway, type TestGateway } from '../support/gateway.ts';

const CREATE_GROUP = `mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }`;
const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`;

/**
 * First contact: a user who needs a base licence, created before any licence
 * key is active, is refused with the cause (no key, the licence state) and
 * its rule, not with "0 of 0 are held … cool-down" (R-REASSIGN-1).
 */
for (const kind of DATABASES) {
  describe(`refusal without a licence key on ${kind}`, () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(kind);
    });
    afterAll(() => gw.close());

    it('[R-LIFE-5] createUser needing BASE before any key names the licence state NONE, not the cool-down', async () => {
      const org = await createOrg(gw, 'connect-storm', `No key ${kind}`);
      const group = await gw.ok<{ createConfigurationGroup: { configurationGroup: { id: string } } }>(CREATE_GROUP, {
        input: { siteId: org.siteId, name: 'Agents', functions: ['BASE', 'AGENT_SEAT', 'VOICE'] },
      });
      const refused = await gw.gql(CREATE_USER, {
        input: {
          siteId: org.siteId,
          name: 'Ada',
          role: 'AGENT',
          configurationGroupId: group.createConfigurationGroup.configurationGroup.id,
        },
      });
      expect(refused.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.configurationGroupId',
        rule: 'R-LIFE-5',
      });
      const message = refused.errors?.[0]?.message ?? '';
      expect(message).toContain('no licence key is active');
      expect(message).toContain('licence state NONE');
      expect(message).toContain('activateLicenseKey');
      expect(message).not.toContain('0 of 0');
      expect(message).not.toContain('cool-down');
    });
  });
}
