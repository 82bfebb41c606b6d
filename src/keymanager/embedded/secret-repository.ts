import type { Db } from '../../db/database.js';
import type { KeyManagerSecretsTable } from '../../db/schema.js';

export type SecretRow = KeyManagerSecretsTable;

export interface SecretListFilter {
  readonly projectId: string;
  readonly name: string | null;
  readonly secretType: string | null;
  readonly limit: number;
  readonly offset: number;
}

/** Embedded key-manager secrets (Kysely; the same queries on SQLite and PostgreSQL). */
export class SecretRepository {
  constructor(private readonly db: Db) {}

  async insert(row: SecretRow): Promise<void> {
    await this.db.insertInto('key_manager_secrets').values(row).execute();
  }

  async find(id: string): Promise<SecretRow | null> {
    return (await this.db.selectFrom('key_manager_secrets').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  async list(filter: SecretListFilter): Promise<{ rows: SecretRow[]; total: number }> {
    let query = this.db.selectFrom('key_manager_secrets').where('project_id', '=', filter.projectId);
    if (filter.name !== null) query = query.where('name', '=', filter.name);
    if (filter.secretType !== null) query = query.where('secret_type', '=', filter.secretType);
    const rows = await query.selectAll().orderBy('created_at').orderBy('id').limit(filter.limit).offset(filter.offset).execute();
    const count = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
    return { rows, total: Number(count.n) };
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('key_manager_secrets').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
