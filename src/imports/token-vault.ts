/**
 * The tokens of users whose glance-download import is waiting or running in this process,
 * by task. glance-download reads the remote image with the user's own token (reference §9.4
 * step 2), and a bearer token is not written to the database: so it lives here, in memory, for as
 * long as the job, and is dropped when the job ends. A job resumed by another process (its node
 * stopped) finds no token and fails saying so; Keystone trusts (issue 14) will let it go on.
 */
export class TokenVault {
  readonly #tokens = new Map<string, string>();

  keep(taskId: string, token: string): void {
    this.#tokens.set(taskId, token);
  }

  take(taskId: string): string | null {
    return this.#tokens.get(taskId) ?? null;
  }

  drop(taskId: string): void {
    this.#tokens.delete(taskId);
  }
}
