/**
 * The logger services are given: pino's calling convention (fields first, then the message), so
 * the server passes its pino logger as it is while services know nothing of Fastify or pino.
 */
export interface LogFn {
  (message: string): void;
  (fields: Readonly<Record<string, unknown>>, message?: string): void;
}

export interface Logger {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}
