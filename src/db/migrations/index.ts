import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './0001-initial.js';
import * as imageLocations from './0002-image-locations.js';
import * as keyManagerSecrets from './0003-key-manager-secrets.js';
import * as nodesAndLeases from './0004-nodes-and-leases.js';
import * as tasks from './0005-tasks.js';

/** Migrations live in code (not read from a folder at run time) so a bundled install still finds them. */
export const migrationProvider: MigrationProvider = {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve({
      '0001-initial': initial,
      '0002-image-locations': imageLocations,
      '0003-key-manager-secrets': keyManagerSecrets,
      '0004-nodes-and-leases': nodesAndLeases,
      '0005-tasks': tasks,
    });
  },
};
