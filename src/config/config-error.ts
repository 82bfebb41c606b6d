/** A configuration problem: startup stops with this message, which names the option. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
