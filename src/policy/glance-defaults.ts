/**
 * Glance Zed's registered policy defaults (reference §16.3; metadef rules from §14.2).
 *
 * `deprecatedRule` is the pre-SRBAC check that legacy mode OR's into the new default while the
 * operator has not overridden the rule (reference §16.2). Most are `rule:default`, and `default`
 * is `""`, so in legacy mode those rules allow everyone and Glance's hard-coded owner checks are
 * the real control. Rules with no deprecated alias are strict in both modes.
 */

export interface PolicyOperation {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
}

export interface PolicyRuleDefault {
  readonly name: string;
  readonly newDefault: string;
  readonly deprecatedRule: string | null;
  readonly description: string;
  readonly operations: readonly PolicyOperation[];
  /**
   * Token scopes the rule is for (oslo's scope_types). Glance registers every API rule for
   * project-scoped tokens and its base rules with none; `[oslo_policy] enforce_scope` refuses a
   * token of another scope before the rule is even read (reference §16.2).
   */
  readonly scopeTypes: readonly TokenScopeType[];
}

export type TokenScopeType = 'project' | 'domain' | 'system';

const PROJECT_SCOPE: readonly TokenScopeType[] = ['project'];

// Reference §16.3 abbreviations.
const PROJECT_MEMBER = 'role:member and project_id:%(project_id)s';
const PROJECT_READER = 'role:reader and project_id:%(project_id)s';
const IMAGE_VISIBLE =
  "project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s" + " or 'public':%(visibility)s or 'shared':%(visibility)s";

const ADMIN_OR_PROJECT_MEMBER = `role:admin or (${PROJECT_MEMBER})`;
const ADMIN_OR_PROJECT_READER = `role:admin or (${PROJECT_READER})`;
const ADMIN_OR_OWNER_OR_MEMBER_READER = 'role:admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)';
// Reference §14.2: the target is the namespace's owner and visibility.
const METADEF_READ = "role:admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))";

const IMAGE = '/v2/images/{image_id}';
const MEMBER = `${IMAGE}/members/{member_id}`;
const NS = '/v2/metadefs/namespaces/{namespace_name}';

const op = (method: PolicyOperation['method'], path: string): PolicyOperation => ({ method, path });

/** A rule whose legacy fallback is `rule:default`. */
function legacy(name: string, newDefault: string, description: string, operations: PolicyOperation[]): PolicyRuleDefault {
  return { name, newDefault, deprecatedRule: 'rule:default', description, operations, scopeTypes: PROJECT_SCOPE };
}

/** A rule with no deprecated alias: the same in both modes. */
function strict(name: string, newDefault: string, description: string, operations: PolicyOperation[]): PolicyRuleDefault {
  return { name, newDefault, deprecatedRule: null, description, operations, scopeTypes: PROJECT_SCOPE };
}

/** A base rule other rules refer to: no scope of its own, as Glance registers it. */
function base(name: string, newDefault: string, deprecatedRule: string | null, description: string): PolicyRuleDefault {
  return { name, newDefault, deprecatedRule, description, operations: [], scopeTypes: [] };
}

function cache(name: string, description: string, operations: PolicyOperation[]): PolicyRuleDefault {
  return { name, newDefault: 'role:admin', deprecatedRule: 'rule:manage_image_cache', description, operations, scopeTypes: PROJECT_SCOPE };
}

function metadefRead(name: string, description: string, operations: PolicyOperation[], check = METADEF_READ): PolicyRuleDefault {
  return { name, newDefault: check, deprecatedRule: 'rule:metadef_default', description, operations, scopeTypes: PROJECT_SCOPE };
}

function metadefWrite(name: string, description: string, operations: PolicyOperation[]): PolicyRuleDefault {
  return strict(name, 'rule:metadef_admin', description, operations);
}

export const GLANCE_POLICY_DEFAULTS: readonly PolicyRuleDefault[] = [
  base('default', '', 'role:admin', 'Fallback for any rule name that is not defined, and the legacy alias of most image rules.'),
  base('context_is_admin', 'role:admin', null, 'Decides whether a request context is marked as admin.'),

  // Images (reference §2, §3, §5.4, §9).
  legacy('add_image', `role:admin or (${PROJECT_MEMBER} and project_id:%(owner)s)`, 'Create an image.', [op('POST', '/v2/images')]),
  legacy('get_image', `role:admin or (role:reader and (${IMAGE_VISIBLE}))`, 'Show an image.', [op('GET', IMAGE)]),
  legacy('get_images', ADMIN_OR_PROJECT_READER, 'List images.', [op('GET', '/v2/images')]),
  legacy('modify_image', ADMIN_OR_PROJECT_MEMBER, 'Update an image; also guards stage and non-copy import.', [
    op('PATCH', IMAGE),
    op('PUT', `${IMAGE}/stage`),
    op('POST', `${IMAGE}/import`),
  ]),
  legacy('delete_image', ADMIN_OR_PROJECT_MEMBER, 'Delete an image.', [op('DELETE', IMAGE)]),
  strict('publicize_image', 'role:admin', "Set an image's visibility to public.", [op('POST', '/v2/images'), op('PATCH', IMAGE)]),
  legacy('communitize_image', ADMIN_OR_PROJECT_MEMBER, "Set an image's visibility to community.", [op('POST', '/v2/images'), op('PATCH', IMAGE)]),
  legacy('download_image', `role:admin or (role:member and (${IMAGE_VISIBLE}))`, "Download an image's data.", [op('GET', `${IMAGE}/file`)]),
  legacy('upload_image', ADMIN_OR_PROJECT_MEMBER, "Upload an image's data.", [op('PUT', `${IMAGE}/file`)]),
  legacy('deactivate', ADMIN_OR_PROJECT_MEMBER, 'Deactivate an image.', [op('POST', `${IMAGE}/actions/deactivate`)]),
  legacy('reactivate', ADMIN_OR_PROJECT_MEMBER, 'Reactivate an image.', [op('POST', `${IMAGE}/actions/reactivate`)]),
  strict('copy_image', 'role:admin', 'Copy an existing image into more stores (copy-image import).', [op('POST', `${IMAGE}/import`)]),

  // Locations (reference §8.4).
  legacy('get_image_location', ADMIN_OR_PROJECT_READER, "Read an image's locations.", [op('DELETE', '/v2/stores/{store_id}/{image_id}')]),
  legacy('set_image_location', ADMIN_OR_PROJECT_MEMBER, "Add or replace an image's locations.", [op('PATCH', IMAGE)]),
  legacy('delete_image_location', 'role:admin', "Remove an image's location or its data in one store.", [
    op('PATCH', IMAGE),
    op('DELETE', '/v2/stores/{store_id}/{image_id}'),
  ]),

  // Members (reference §5.3).
  legacy('add_member', ADMIN_OR_PROJECT_MEMBER, 'Share an image with a project.', [op('POST', `${IMAGE}/members`)]),
  legacy('delete_member', ADMIN_OR_PROJECT_MEMBER, 'Stop sharing an image with a project.', [op('DELETE', MEMBER)]),
  legacy('get_member', ADMIN_OR_OWNER_OR_MEMBER_READER, 'Show one image member.', [op('GET', MEMBER)]),
  legacy('get_members', ADMIN_OR_OWNER_OR_MEMBER_READER, "List an image's members.", [op('GET', `${IMAGE}/members`)]),
  legacy('modify_member', 'role:admin or (role:member and project_id:%(member_id)s)', 'Accept or reject a shared image.', [op('PUT', MEMBER)]),

  // Cache (reference §11.3). The per-call rules fall back to the older catch-all in legacy mode.
  strict('manage_image_cache', 'role:admin', 'Use the legacy cache management API.', [
    op('GET', '/v2/cached_images'),
    op('DELETE', '/v2/cached_images'),
    op('DELETE', '/v2/cached_images/{image_id}'),
    op('GET', '/v2/queued_images'),
    op('PUT', '/v2/queued_images/{image_id}'),
    op('DELETE', '/v2/queued_images'),
    op('DELETE', '/v2/queued_images/{image_id}'),
  ]),
  cache('cache_image', 'Queue an image for caching.', [op('PUT', '/v2/cache/{image_id}')]),
  cache('cache_list', 'List cached and queued images.', [op('GET', '/v2/cache')]),
  cache('cache_delete', 'Remove images from the cache or the queue.', [op('DELETE', '/v2/cache/{image_id}'), op('DELETE', '/v2/cache')]),

  // Discovery (reference §9.1).
  strict('stores_info_detail', 'role:admin', 'Show store details, including driver properties.', [op('GET', '/v2/info/stores/detail')]),

  // Tasks (reference §10): gated by tasks_api_access; the per-call rules are internal.
  strict('tasks_api_access', 'role:admin', 'Use the tasks API at all.', [op('GET', '/v2/tasks'), op('POST', '/v2/tasks'), op('GET', '/v2/tasks/{task_id}')]),
  legacy('get_task', 'rule:default', 'Show a task (internal check).', [op('GET', '/v2/tasks/{task_id}')]),
  legacy('get_tasks', 'rule:default', 'List tasks (internal check).', [op('GET', '/v2/tasks')]),
  legacy('add_task', 'rule:default', 'Create a task (internal check).', [op('POST', '/v2/tasks')]),
  legacy('modify_task', 'rule:default', 'Update a task (unused).', []),

  // Metadefs (reference §14.2).
  base('metadef_default', '', null, 'Base rule the metadef read rules fall back to in legacy mode.'),
  base('metadef_admin', 'role:admin', null, 'Base rule for every metadef write.'),
  metadefRead('get_metadef_namespaces', 'List namespaces.', [op('GET', '/v2/metadefs/namespaces')], ADMIN_OR_PROJECT_READER),
  metadefRead('get_metadef_namespace', 'Show a namespace.', [op('GET', NS)]),
  metadefRead('get_metadef_objects', "List a namespace's objects.", [op('GET', `${NS}/objects`)]),
  metadefRead('get_metadef_object', 'Show an object.', [op('GET', `${NS}/objects/{object_name}`)]),
  metadefRead('get_metadef_properties', "List a namespace's properties.", [op('GET', `${NS}/properties`)]),
  metadefRead('get_metadef_property', 'Show a property.', [op('GET', `${NS}/properties/{property_name}`)]),
  metadefRead('get_metadef_tags', "List a namespace's tags.", [op('GET', `${NS}/tags`)]),
  metadefRead('get_metadef_tag', 'Show a tag.', [op('GET', `${NS}/tags/{tag_name}`)]),
  metadefRead('list_metadef_resource_types', 'List resource types.', [op('GET', '/v2/metadefs/resource_types')]),
  metadefRead('get_metadef_resource_type', "List a namespace's resource type associations.", [op('GET', `${NS}/resource_types`)]),
  metadefWrite('add_metadef_namespace', 'Create a namespace.', [op('POST', '/v2/metadefs/namespaces')]),
  metadefWrite('modify_metadef_namespace', 'Update a namespace.', [op('PUT', NS)]),
  metadefWrite('delete_metadef_namespace', 'Delete a namespace.', [op('DELETE', NS)]),
  metadefWrite('add_metadef_object', 'Create an object.', [op('POST', `${NS}/objects`)]),
  metadefWrite('modify_metadef_object', 'Update an object.', [op('PUT', `${NS}/objects/{object_name}`)]),
  metadefWrite('delete_metadef_object', 'Delete an object.', [op('DELETE', `${NS}/objects/{object_name}`)]),
  metadefWrite('add_metadef_property', 'Create a property.', [op('POST', `${NS}/properties`)]),
  metadefWrite('modify_metadef_property', 'Update a property.', [op('PUT', `${NS}/properties/{property_name}`)]),
  metadefWrite('remove_metadef_property', 'Delete a property.', [op('DELETE', `${NS}/properties/{property_name}`)]),
  metadefWrite('add_metadef_tag', 'Create one tag.', [op('POST', `${NS}/tags/{tag_name}`)]),
  metadefWrite('add_metadef_tags', 'Create or replace tags in bulk.', [op('POST', `${NS}/tags`)]),
  metadefWrite('modify_metadef_tag', 'Rename a tag.', [op('PUT', `${NS}/tags/{tag_name}`)]),
  metadefWrite('delete_metadef_tag', 'Delete a tag.', [op('DELETE', `${NS}/tags/{tag_name}`)]),
  metadefWrite('delete_metadef_tags', "Delete all of a namespace's tags.", [op('DELETE', `${NS}/tags`)]),
  metadefWrite('add_metadef_resource_type_association', 'Associate a resource type with a namespace.', [op('POST', `${NS}/resource_types`)]),
  metadefWrite('remove_metadef_resource_type_association', 'Remove a resource type association.', [op('DELETE', `${NS}/resource_types/{resource_type}`)]),
];
