-- Read model of runs and steps, kept by the append function in the same transaction as the
-- event. `runs.last_seq` is also the per-run sequence counter: appends lock this row, so a
-- run's events commit strictly in run_seq order.
create table runs (
  run_id text primary key,
  tenant_id text not null,
  project_id text not null,
  environment text not null,
  plan_id text not null,
  plan_version text not null,
  status text not null default 'QUEUED'
    check (status in ('QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED')),
  substatus text check (substatus in ('WAITING_APPROVAL')),
  original_run_id text,
  created_at timestamptz not null default clock_timestamp(),
  started_at timestamptz,
  ended_at timestamptz,
  updated_at timestamptz not null default clock_timestamp(),
  last_seq bigint not null default 0,
  steps_total integer not null default 0,
  steps_pending integer not null default 0,
  steps_running integer not null default 0,
  steps_completed integer not null default 0,
  steps_failed integer not null default 0,
  steps_skipped integer not null default 0,
  error jsonb
);

create index runs_by_project on runs (tenant_id, project_id, created_at desc, run_id desc);
create index runs_by_project_status
  on runs (tenant_id, project_id, status, created_at desc, run_id desc);

create table run_steps (
  run_id text not null references runs (run_id),
  step_id text not null,
  status text not null default 'PENDING'
    check (status in ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'SKIPPED')),
  attempts integer not null default 0,
  started_at timestamptz,
  ended_at timestamptz,
  last_error jsonb,
  reason text,
  output jsonb,
  updated_seq bigint not null,
  primary key (run_id, step_id)
);
