// What the signed-in user may do in the current account: the permissions of their role
// there (roles.json, generated from core/access/roles.py by `make gen`, so `make check-gen`
// fails when they differ). The dashboard hides what the role may not use; the API refuses
// it anyway.

import roles from "./roles.json";

// A permission is `resource:action`, as the protos' (paygate.v1.access) options name them.
export type Permission = string;

export type RoleName = keyof typeof roles;

export const ROLE_NAMES = Object.keys(roles) as RoleName[];

export function summaryOf(role: string): string {
  return (roles as Record<string, { summary: string }>)[role]?.summary ?? "";
}

// An unknown role may do nothing.
export function can(role: string | undefined, permission: Permission): boolean {
  const entry = role ? (roles as Record<string, { permissions: string[] }>)[role] : undefined;
  return entry ? entry.permissions.includes(permission) : false;
}

// The roles a member with `role` may hand out: an OWNER any, anyone else up to their own
// rank and never OWNER (the API enforces the same rule).
export function assignableRoles(role: string | undefined): RoleName[] {
  if (!can(role, "members:write")) return [];
  if (role === "OWNER") return ROLE_NAMES;
  return ROLE_NAMES.filter((name) => name !== "OWNER");
}
