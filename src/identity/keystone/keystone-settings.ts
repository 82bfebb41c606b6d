import { resolve } from 'node:path';
import { ConfigError } from '../../config/config-error.js';
import type { KEYSTONE_AUTHTOKEN_OPTIONS, SectionValues } from '../../config/options.js';
import type { KeystoneAuthenticatorOptions } from './keystone-authenticator.js';
import type { DomainRef, ServiceCredentials, ServiceScope } from './service-credentials.js';

export type KeystoneSettings = Omit<KeystoneAuthenticatorOptions, 'now' | 'warn'>;

/** `password` is keystoneauth's generic name; `v3password` its v3 form. */
const PASSWORD_TYPES = new Set(['password', 'v3password']);
const APPLICATION_CREDENTIAL_TYPES = new Set(['v3applicationcredential', 'applicationcredential']);

/**
 * `[keystone_authtoken]` in the forms deployment tools write (devstack, kolla-ansible,
 * openstack-ansible): an unversioned or versioned auth_url, names or ids for users, projects and
 * domains, a project-, domain- or system-scoped service user, or an application credential.
 * Whatever cannot work is a startup error naming the option.
 */
type AuthTokenValues = SectionValues<(typeof KEYSTONE_AUTHTOKEN_OPTIONS)['options']>;
type TextOption = { [K in keyof AuthTokenValues]: AuthTokenValues[K] extends string | null ? K : never }[keyof AuthTokenValues];

export function keystoneSettings(values: AuthTokenValues, configDir: string): KeystoneSettings {
  const text = (name: TextOption): string | null => {
    const value = values[name];
    return value === null || value === '' ? null : value;
  };
  const required = (name: TextOption, why: string): string => {
    const value = text(name);
    if (value === null) throw new ConfigError(`[keystone_authtoken] ${name} is required ${why}`);
    return value;
  };
  const file = (name: 'cafile' | 'certfile' | 'keyfile'): string | null => {
    const value = text(name);
    return value === null ? null : resolve(configDir, value);
  };
  const authUrl = required('auth_url', 'with [paste_deploy] flavor = keystone');
  const domain = (prefix: 'user' | 'project'): DomainRef => {
    const id = text(`${prefix}_domain_id`);
    return id !== null ? { id } : { name: text(`${prefix}_domain_name`) ?? 'Default' };
  };
  const user = (): { id: string } | { name: string; domain: DomainRef } | null => {
    const id = text('user_id');
    if (id !== null) return { id };
    const name = text('username');
    return name === null ? null : { name, domain: domain('user') };
  };
  return {
    authUrl,
    wwwAuthenticateUri: text('www_authenticate_uri') ?? text('auth_uri') ?? authUrl,
    credentials: credentials(text, required, user, domain),
    interface: values.interface,
    regionName: text('region_name'),
    http: {
      cafile: file('cafile'),
      certfile: file('certfile'),
      keyfile: file('keyfile'),
      insecure: values.insecure,
      timeoutSeconds: values.http_connect_timeout,
      connectRetries: values.http_request_max_retries,
    },
    tokenCacheSeconds: values.token_cache_time,
    serviceTokenRoles: values.service_token_roles,
    serviceTokenRolesRequired: values.service_token_roles_required,
    includeServiceCatalog: values.include_service_catalog,
  };
}

function credentials(
  text: (name: TextOption) => string | null,
  required: (name: TextOption, why: string) => string,
  user: () => { id: string } | { name: string; domain: DomainRef } | null,
  domain: (prefix: 'user' | 'project') => DomainRef,
): ServiceCredentials {
  const authType = (text('auth_type') ?? 'password').toLowerCase();
  if (APPLICATION_CREDENTIAL_TYPES.has(authType)) {
    const why = `with auth_type = ${authType}`;
    const secret = required('application_credential_secret', why);
    const id = text('application_credential_id');
    if (id !== null) return { kind: 'application_credential', credential: { id }, secret };
    const name = required('application_credential_name', `${why} and no application_credential_id`);
    const owner = user();
    if (owner === null) throw new ConfigError(`[keystone_authtoken] username or user_id is required with application_credential_name`);
    return { kind: 'application_credential', credential: { name, user: owner }, secret };
  }
  if (!PASSWORD_TYPES.has(authType)) {
    throw new ConfigError(`[keystone_authtoken] auth_type: '${authType}' is not supported (password, v3password, v3applicationcredential)`);
  }
  const who = user();
  if (who === null) throw new ConfigError('[keystone_authtoken] username (or user_id) is required with auth_type = password');
  const password = required('password', 'with auth_type = password');
  return { kind: 'password', user: who, password, scope: serviceScope(text, domain) };
}

/** At most one of a project, a domain or the system; none leaves it to the user's default project. */
function serviceScope(text: (name: TextOption) => string | null, domain: (prefix: 'user' | 'project') => DomainRef): ServiceScope {
  const projectId = text('project_id');
  const projectName = text('project_name');
  const domainId = text('domain_id');
  const domainName = text('domain_name');
  const system = text('system_scope');
  const given = [projectId ?? projectName, domainId ?? domainName, system].filter((v) => v !== null);
  if (given.length > 1)
    throw new ConfigError('[keystone_authtoken] give one scope for the service user: project_name/project_id, domain_name/domain_id or system_scope');
  if (system !== null) {
    if (system !== 'all') throw new ConfigError(`[keystone_authtoken] system_scope: '${system}' is not 'all'`);
    return { kind: 'system' };
  }
  if (projectId !== null) return { kind: 'project', project: { id: projectId } };
  if (projectName !== null) return { kind: 'project', project: { name: projectName, domain: domain('project') } };
  if (domainId !== null) return { kind: 'domain', domain: { id: domainId } };
  if (domainName !== null) return { kind: 'domain', domain: { name: domainName } };
  return { kind: 'default' };
}
