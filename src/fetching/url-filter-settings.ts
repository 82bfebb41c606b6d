/**
 * Glance's `[import_filtering_opts]`: which URLs web-download (and later glance-download) may
 * fetch (reference §9.5). The names follow Glance's options; the defaults are Glance's.
 *
 * For each dimension (scheme, host, port), a non-empty allowed list wins and the disallowed list
 * is then ignored, as in Glance. Host entries are names or IP literals, compared without case.
 */
export interface UrlFilterSettings {
  /** `allowed_schemes`: when non-empty, only these schemes (without the colon). */
  readonly allowedSchemes: readonly string[];
  /** `disallowed_schemes`: used only when `allowedSchemes` is empty. */
  readonly disallowedSchemes: readonly string[];
  /**
   * `allowed_hosts`: when non-empty, only these hosts. Naming a host here is also what lets it be
   * a loopback, link-local or otherwise special address (reference §9.5, the Debian patches).
   */
  readonly allowedHosts: readonly string[];
  /** `disallowed_hosts`: used only when `allowedHosts` is empty; IP entries also match what a name resolves to. */
  readonly disallowedHosts: readonly string[];
  /** `allowed_ports`: when non-empty, only these ports — checked only when the URL spells a port. */
  readonly allowedPorts: readonly number[];
  /** `disallowed_ports`: used only when `allowedPorts` is empty. */
  readonly disallowedPorts: readonly number[];
}

export const DEFAULT_URL_FILTER_SETTINGS: UrlFilterSettings = Object.freeze({
  allowedSchemes: Object.freeze(['http', 'https']),
  disallowedSchemes: Object.freeze([]),
  allowedHosts: Object.freeze([]),
  disallowedHosts: Object.freeze([]),
  allowedPorts: Object.freeze([80, 443]),
  disallowedPorts: Object.freeze([]),
});
