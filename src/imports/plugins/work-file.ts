import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A fresh path under `workDir` for a file a plugin produces: the image id (kept to safe
 * characters, so it can never climb out of the directory), what the file is, and a random part
 * so two imports, or a retry after a crash, never write the same file.
 */
export function workFilePath(workDir: string, imageId: string, suffix: string): string {
  const id = imageId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return join(workDir, `${id}.${randomBytes(6).toString('hex')}.${suffix}`);
}

/** Removes a file a failed step produced; one that was never created is fine. */
export async function discardFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
