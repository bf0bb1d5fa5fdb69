import { z } from 'zod';
import { visibleProjects } from '../auth/roles.ts';
import type { ApiRoute } from '../http/route-table.ts';
import type { RouteDeps } from './deps.ts';
import { commonErrors, ProjectParams, Slug } from './schemas.ts';

const ProjectSchema = z.object({
  projectId: z.string(),
  name: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
});
const EnvironmentSchema = z.object({
  projectId: z.string(),
  name: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
});

export function projectRoutes(deps: RouteDeps): ApiRoute[] {
  return [
    {
      id: 'projects.create',
      method: 'POST',
      url: '/v1/projects',
      summary: 'Create a project in the caller’s tenant',
      tag: 'projects',
      permission: 'admin',
      scope: 'tenant-wide',
      schema: {
        body: z.strictObject({ projectId: Slug, name: z.string().min(1).max(200) }),
        response: { 201: ProjectSchema, 409: commonErrors[400], ...commonErrors },
      },
      async handler({ principal, body, reply }) {
        const project = await deps.projects.create(principal.tenantId, body, principal.subject);
        return reply.code(201).send(project);
      },
    },
    {
      id: 'projects.list',
      method: 'GET',
      url: '/v1/projects',
      summary: 'List the projects the caller can see',
      tag: 'projects',
      permission: 'read',
      scope: 'tenant',
      schema: {
        response: { 200: z.object({ projects: z.array(ProjectSchema) }), ...commonErrors },
      },
      async handler({ principal }) {
        return {
          projects: await deps.projects.list(principal.tenantId, visibleProjects(principal.grants)),
        };
      },
    },
    {
      id: 'environments.create',
      method: 'POST',
      url: '/v1/projects/:projectId/environments',
      summary: 'Create an environment (e.g. dev, prod) in a project',
      tag: 'projects',
      permission: 'admin',
      scope: 'project',
      schema: {
        params: ProjectParams,
        body: z.strictObject({ name: Slug }),
        response: { 201: EnvironmentSchema, 409: commonErrors[400], ...commonErrors },
      },
      async handler({ principal, projectId, body, reply }) {
        const environment = await deps.projects.createEnvironment(
          principal.tenantId,
          projectId!,
          body.name,
          principal.subject,
        );
        return reply.code(201).send(environment);
      },
    },
    {
      id: 'environments.list',
      method: 'GET',
      url: '/v1/projects/:projectId/environments',
      summary: 'List a project’s environments',
      tag: 'projects',
      permission: 'read',
      scope: 'project',
      schema: {
        params: ProjectParams,
        response: { 200: z.object({ environments: z.array(EnvironmentSchema) }), ...commonErrors },
      },
      async handler({ principal, projectId }) {
        return {
          environments: await deps.projects.listEnvironments(principal.tenantId, projectId!),
        };
      },
    },
  ];
}
