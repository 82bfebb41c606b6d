import type { Kysely } from 'kysely';

/**
 * Secrets of the embedded key manager (the Barbican subset under /key-manager): one row per
 * secret, owned by a project, payload encrypted at rest (src/keymanager/embedded/secret-cipher.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('key_manager_secrets')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('creator_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)')
    .addColumn('secret_type', 'varchar(255)', (c) => c.notNull())
    .addColumn('algorithm', 'varchar(255)')
    .addColumn('bit_length', 'integer')
    .addColumn('mode', 'varchar(255)')
    .addColumn('expiration', 'varchar(32)')
    .addColumn('content_type', 'varchar(255)', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('key_manager_secrets_project').on('key_manager_secrets').columns(['project_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('key_manager_secrets').execute();
}
