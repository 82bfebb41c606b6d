import type { Kysely } from 'kysely';

/**
 * Tasks (reference §10): the rows the tasks API shows, and the durable jobs interoperable import
 * runs as (README "Import"). A job's progress and the step it reached live in the row, so any
 * node that takes the job over (its lease lapsed) knows where it stands.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tasks')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(30)', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('owner', 'varchar(255)')
    .addColumn('image_id', 'varchar(36)')
    .addColumn('request_id', 'varchar(255)')
    .addColumn('user_id', 'varchar(255)')
    .addColumn('input', 'text')
    .addColumn('result', 'text')
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('progress', 'text')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)')
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('deleted_at', 'varchar(32)')
    .execute();
  await db.schema.createIndex('tasks_image_id').on('tasks').column('image_id').execute();
  await db.schema.createIndex('tasks_status').on('tasks').column('status').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('tasks').execute();
}
