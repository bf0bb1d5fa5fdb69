-- Append-only run events (DESIGN §6). The database itself enforces the two uniqueness rules
-- and refuses UPDATE, DELETE and TRUNCATE, whoever the caller is.
create table run_events (
  event_id uuid primary key default gen_random_uuid(),
  run_id text not null,
  run_seq bigint not null check (run_seq > 0),
  idempotency_key text not null,
  tenant_id text not null,
  project_id text not null,
  environment text not null,
  plan_id text not null,
  plan_version text not null,
  step_id text,
  logical_attempt_id text not null,
  attempt integer check (attempt is null or attempt > 0),
  event_type text not null check (event_type in (
    'RunQueued', 'RunStarted', 'StepStarted', 'StepCompleted', 'StepFailed', 'StepSkipped',
    'RunPaused', 'RunResumed', 'RunCompleted', 'RunFailed', 'RunCancelled',
    'ApprovalRequested', 'ApprovalGranted'
  )),
  payload jsonb not null default '{}'::jsonb,
  emitted_at timestamptz not null,
  persisted_at timestamptz not null default clock_timestamp(),
  constraint run_events_run_seq_unique unique (run_id, run_seq),
  constraint run_events_idempotency_unique unique (run_id, idempotency_key)
);

create function run_events_refuse_change() returns trigger
language plpgsql as $$
begin
  raise exception 'run_events is append-only: % is not allowed', tg_op
    using errcode = 'restrict_violation',
          hint = 'persisted events are immutable; append a new event instead';
end;
$$;

create trigger run_events_no_update_delete
  before update or delete on run_events
  for each row execute function run_events_refuse_change();

create trigger run_events_no_truncate
  before truncate on run_events
  for each statement execute function run_events_refuse_change();
