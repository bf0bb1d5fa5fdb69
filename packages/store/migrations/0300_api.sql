-- Tables the api owns (numbering 0300–0399): projects and environments, plans with their
-- immutable versions, hashed API keys, the Idempotency-Key records of POST /runs, the runs the
-- api started, and the audit log of write decisions.
create table api_projects (
  tenant_id text not null,
  project_id text not null,
  name text not null,
  created_by text not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, project_id)
);

create table api_environments (
  tenant_id text not null,
  project_id text not null,
  name text not null,
  created_by text not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, project_id, name),
  foreign key (tenant_id, project_id) references api_projects (tenant_id, project_id)
);

create table api_plan_versions (
  tenant_id text not null,
  project_id text not null,
  plan_id text not null,
  plan_version text not null,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  artifact_uri text not null,
  size_bytes bigint not null check (size_bytes >= 0),
  schema_version text not null,
  source_kind text not null check (source_kind in ('plan', 'dbt')),
  -- SHA-256 of the submitted input (plan or dbt request); resubmitting it is a no-op.
  source_sha256 text not null,
  steps_total integer not null,
  requires_approval boolean not null,
  created_by text not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, project_id, plan_id, plan_version),
  foreign key (tenant_id, project_id) references api_projects (tenant_id, project_id)
);

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  tenant_id text not null,
  name text not null,
  -- SHA-256 of the whole key; the key itself is shown once and never stored.
  key_hash text not null unique,
  key_prefix text not null,
  roles text[] not null,
  created_by text not null,
  created_at timestamptz not null default clock_timestamp(),
  expires_at timestamptz,
  revoked_at timestamptz
);

create index api_keys_by_tenant on api_keys (tenant_id, created_at desc);

create table api_runs (
  run_id text primary key,
  tenant_id text not null,
  project_id text not null,
  environment text not null,
  plan_id text not null,
  plan_version text not null,
  original_run_id text,
  created_by text not null,
  created_at timestamptz not null default clock_timestamp(),
  foreign key (tenant_id, project_id) references api_projects (tenant_id, project_id)
);

create index api_runs_by_project on api_runs (tenant_id, project_id, created_at desc, run_id desc);

-- One row per (tenant, project, Idempotency-Key): the first request inserts it and starts the
-- run; every later request with the same key reads it. `request_hash` is the SHA-256 of the
-- canonical request body, so a reused key with another body is detected.
create table api_idempotency_keys (
  tenant_id text not null,
  project_id text not null,
  idempotency_key text not null,
  request_hash text not null,
  run_id text not null,
  state text not null default 'pending' check (state in ('pending', 'started')),
  -- Set while a request holds the key and is starting the run; cleared when it gives up.
  claimed_at timestamptz default clock_timestamp(),
  response jsonb,
  created_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, project_id, idempotency_key)
);

create table api_audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default clock_timestamp(),
  tenant_id text not null,
  subject text not null,
  credential text not null,
  method text not null,
  route text not null,
  action text not null,
  resource text not null,
  decision text not null check (decision in ('granted', 'denied')),
  reason text not null,
  request_id text not null
);

create index api_audit_log_by_tenant on api_audit_log (tenant_id, at desc);
