-- Planner history: the last outcome of each step of each plan, per tenant and project.
-- The planner reads it in bulk to estimate durations and to skip unchanged dbt nodes; the
-- engine (or the api) records outcomes as steps end.
create table if not exists step_history (
  tenant_id text not null,
  project_id text not null,
  plan_id text not null,
  step_id text not null,
  -- Status of the most recent attempt that ended: COMPLETED, FAILED or SKIPPED.
  last_status text not null check (last_status in ('COMPLETED', 'FAILED', 'SKIPPED')),
  -- Duration of the most recent successful run, in milliseconds.
  last_duration_ms bigint check (last_duration_ms >= 0),
  -- Checksum (e.g. the dbt node checksum) of the most recent successful run.
  last_successful_checksum text,
  last_success_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, project_id, plan_id, step_id)
);
