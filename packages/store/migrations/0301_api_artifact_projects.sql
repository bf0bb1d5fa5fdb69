-- Which projects an artifact belongs to, for readers whose grants are project-scoped (the api
-- owns this; numbering 0300–0399). An upload made for a project (POST /v1/artifacts?projectId=)
-- records a row here; plans stored by the api are linked through api_plan_versions.sha256; run
-- artifacts the engine writes (step outputs and logs, run_results.json) are linked through the
-- run events that name them, which the GIN index below finds by sha256.
create table api_artifact_projects (
  tenant_id text not null,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  project_id text not null,
  created_by text not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, sha256, project_id),
  foreign key (tenant_id, project_id) references api_projects (tenant_id, project_id)
);

create index api_plan_versions_by_sha256 on api_plan_versions (tenant_id, sha256);

-- The artifact references of an event's payload, as written by the engine's activities. The
-- api's query repeats this exact expression so the planner can use the index.
create index run_events_artifact_refs on run_events using gin ((array_remove(
  array[payload ->> 'outputSha256', payload ->> 'logSha256', payload ->> 'runResultsSha256'],
  null
)));
