/**
 * Roles of DESIGN §8 and what they permit. A grant is a role either tenant-wide (`operator`)
 * or for one project (`operator:nightly`). Permissions are what routes ask for; the table
 * below is the only place that maps one to the other.
 */
export const roles = ['viewer', 'operator', 'author', 'admin'] as const;
export type Role = (typeof roles)[number];

/** What a route needs. `read` every role has; `admin` only admins. */
export const permissions = ['read', 'operate', 'author', 'admin'] as const;
export type Permission = (typeof permissions)[number];

const rolesWith: Record<Permission, readonly Role[]> = {
  read: ['viewer', 'operator', 'author', 'admin'],
  operate: ['operator', 'admin'],
  author: ['author', 'admin'],
  admin: ['admin'],
};

export interface Grant {
  role: Role;
  /** null: the whole tenant. */
  projectId: string | null;
}

/** Parses `viewer` or `viewer:projectId`; unknown roles give undefined (they are ignored). */
export function parseGrant(text: string): Grant | undefined {
  const colon = text.indexOf(':');
  const role = colon === -1 ? text : text.slice(0, colon);
  const projectId = colon === -1 ? null : text.slice(colon + 1);
  if (!(roles as readonly string[]).includes(role)) return undefined;
  if (projectId !== null && projectId === '') return undefined;
  return { role: role as Role, projectId };
}

export function formatGrant(grant: Grant): string {
  return grant.projectId === null ? grant.role : `${grant.role}:${grant.projectId}`;
}

export function rolesFor(permission: Permission): readonly Role[] {
  return rolesWith[permission];
}

/**
 * Whether the grants allow `permission` on a project (`projectId`), or anywhere in the tenant
 * when `projectId` is `'*any'` (tenant-level resources such as artifacts), or tenant-wide only
 * when it is null (creating projects).
 */
export function allows(
  grants: readonly Grant[],
  permission: Permission,
  projectId: string | null | '*any',
): boolean {
  const accepted = rolesWith[permission];
  return grants.some((g) => {
    if (!accepted.includes(g.role)) return false;
    if (g.projectId === null) return true;
    if (projectId === '*any') return true;
    return projectId !== null && g.projectId === projectId;
  });
}

/** Projects a grant list can see: null means every project of the tenant. */
export function visibleProjects(grants: readonly Grant[]): Set<string> | null {
  if (grants.some((g) => g.projectId === null)) return null;
  return new Set(grants.map((g) => g.projectId!));
}
