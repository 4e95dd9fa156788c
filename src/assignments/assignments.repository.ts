import type { Executor } from '../db/database.ts';
import type { UserSettingRow } from '../db/schema.ts';

/* Personal function settings of users (what R-NAMED-4 deletes is in allocation/allocation.repository.ts). */

export function settingsOfUsers(db: Executor, userIds: readonly string[]): Promise<UserSettingRow[]> {
  return db.selectFrom('user_settings').selectAll().where('user_id', 'in', userIds).orderBy('product_code').orderBy('name').execute();
}

export async function upsertSetting(db: Executor, row: UserSettingRow): Promise<void> {
  await db
    .insertInto('user_settings')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['organization_id', 'user_id', 'product_code', 'name']).doUpdateSet({ value: row.value, updated_at: row.updated_at }),
    )
    .execute();
}
