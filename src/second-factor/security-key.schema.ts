import { builder } from '../schema/builder.ts';
import { UserRef } from '../schema/refs.ts';
import type { User } from '../tenancy/domain.ts';
import { hasSecurityKey, setUserSecurityKeyEnrolled } from './security-keys.service.ts';

/* A user's hardware security key (R-2FA-2): the fact, and the mutation that records it. */

const SetUserSecurityKeyEnrolledInput = builder.inputType('SetUserSecurityKeyEnrolledInput', {
  description: 'Whether a user has a hardware security key enrolled for two-factor sign-in.',
  fields: (t) => ({
    userId: t.id({ required: true, description: 'The user.' }),
    enrolled: t.boolean({ required: true, description: 'true: a key is enrolled; false: it was removed.' }),
  }),
});

const SetUserSecurityKeyEnrolledPayload = builder.objectRef<{ user: User }>('SetUserSecurityKeyEnrolledPayload').implement({
  description: 'Result of setUserSecurityKeyEnrolled.',
  fields: (t) => ({ user: t.field({ type: UserRef, description: 'The user with the fact recorded.', resolve: (p) => p.user }) }),
});

builder.objectFields(UserRef, (t) => ({
  securityKeyEnrolled: t.boolean({
    description:
      'Whether an administrator recorded a hardware security key for the user; a licence that needs one (connect storm ADMINISTRATOR) is MISSING_PREREQUISITE until then (R-2FA-2).',
    resolve: (user, _a, ctx) => hasSecurityKey(ctx, user),
  }),
}));

builder.mutationFields((t) => ({
  setUserSecurityKeyEnrolled: t.field({
    type: SetUserSecurityKeyEnrolledPayload,
    description:
      "Records that a user has (or no longer has) a hardware security key enrolled (R-2FA-2): the holder of connect storm's ADMINISTRATOR licence needs one. ADMIN only; logged as USER_SECURITY_KEY_CHANGED.",
    args: { input: t.arg({ type: SetUserSecurityKeyEnrolledInput, required: true, description: 'The user and the fact.' }) },
    resolve: async (_root, { input }, ctx) => ({
      user: await setUserSecurityKeyEnrolled(ctx, { userId: String(input.userId), enrolled: input.enrolled }),
    }),
  }),
}));
