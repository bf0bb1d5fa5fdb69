-- The append path, in one round trip: lock the run's row (the per-run sequence counter),
-- return the existing record when the idempotency key was seen, otherwise insert the event
-- with the next run_seq, its outbox row, the read-model changes and a wake-up notification.
--
-- Duplicates are detected under the run's row lock, so concurrent appends of one key never
-- reach the unique constraint and losers consume no sequence number (field case B02).
-- A mismatch with the run's tenant, project, environment or plan raises SQLSTATE DVT01.
create function dvt_append_run_event(
  p_run_id text,
  p_idempotency_key text,
  p_tenant_id text,
  p_project_id text,
  p_environment text,
  p_plan_id text,
  p_plan_version text,
  p_step_id text,
  p_logical_attempt_id text,
  p_attempt integer,
  p_event_type text,
  p_payload jsonb,
  p_emitted_at timestamptz,
  out "eventId" uuid,
  out "runId" text,
  out "runSeq" bigint,
  out "idempotencyKey" text,
  out "tenantId" text,
  out "projectId" text,
  out "environment" text,
  out "planId" text,
  out "planVersion" text,
  out "stepId" text,
  out "logicalAttemptId" text,
  out "attempt" integer,
  out "eventType" text,
  out "payload" jsonb,
  out "emittedAt" timestamptz,
  out "persistedAt" timestamptz,
  out "idempotent" boolean
)
language plpgsql as $$
declare
  v_run runs%rowtype;
  v_event_id uuid;
  v_seq bigint;
  v_old_step text;
  v_new_step text;
  v_added integer := 0;
  v_terminal boolean;
begin
  insert into runs (run_id, tenant_id, project_id, environment, plan_id, plan_version)
  values (p_run_id, p_tenant_id, p_project_id, p_environment, p_plan_id, p_plan_version)
  on conflict (run_id) do nothing;

  select * into strict v_run from runs where run_id = p_run_id for update;

  if v_run.tenant_id <> p_tenant_id or v_run.project_id <> p_project_id then
    raise exception 'run % belongs to another tenant or project', p_run_id
      using errcode = 'DVT01';
  elsif v_run.environment <> p_environment then
    raise exception 'run % runs in environment %, not %', p_run_id, v_run.environment, p_environment
      using errcode = 'DVT01';
  elsif v_run.plan_id <> p_plan_id or v_run.plan_version <> p_plan_version then
    raise exception 'run % executes plan % version %, not % version %', p_run_id,
      v_run.plan_id, v_run.plan_version, p_plan_id, p_plan_version
      using errcode = 'DVT01';
  end if;

  select e.event_id into v_event_id
  from run_events e
  where e.run_id = p_run_id and e.idempotency_key = p_idempotency_key;

  if found then
    idempotent := true;
  else
    idempotent := false;
    v_seq := v_run.last_seq + 1;

    insert into run_events (
      run_id, run_seq, idempotency_key, tenant_id, project_id, environment, plan_id,
      plan_version, step_id, logical_attempt_id, attempt, event_type, payload, emitted_at
    ) values (
      p_run_id, v_seq, p_idempotency_key, p_tenant_id, p_project_id, p_environment, p_plan_id,
      p_plan_version, p_step_id, p_logical_attempt_id, p_attempt, p_event_type,
      coalesce(p_payload, '{}'::jsonb), p_emitted_at
    )
    returning event_id into v_event_id;

    insert into outbox (event_id, run_id, run_seq, tenant_id, project_id, event_type)
    values (v_event_id, p_run_id, v_seq, p_tenant_id, p_project_id, p_event_type);

    -- Steps announced up front (RunQueued / RunStarted payload `stepIds`) start as PENDING.
    if p_event_type in ('RunQueued', 'RunStarted') and jsonb_typeof(p_payload -> 'stepIds') = 'array' then
      insert into run_steps (run_id, step_id, updated_seq)
      select p_run_id, s, v_seq from jsonb_array_elements_text(p_payload -> 'stepIds') s
      on conflict do nothing;
      get diagnostics v_added = row_count;
    end if;

    if p_step_id is not null and p_event_type like 'Step%' then
      select status into v_old_step from run_steps
      where run_id = p_run_id and step_id = p_step_id for update;
      if not found then
        insert into run_steps (run_id, step_id, updated_seq) values (p_run_id, p_step_id, v_seq);
        v_added := v_added + 1;
        v_old_step := 'PENDING';
      end if;

      v_new_step := case p_event_type
        when 'StepStarted' then 'RUNNING'
        when 'StepCompleted' then 'COMPLETED'
        when 'StepFailed' then 'FAILED'
        else 'SKIPPED'
      end;

      update run_steps set
        status = v_new_step,
        attempts = greatest(attempts, coalesce(p_attempt, case when v_new_step = 'RUNNING' then attempts + 1 else attempts end)),
        started_at = case when v_new_step = 'RUNNING' then coalesce(started_at, p_emitted_at) else started_at end,
        ended_at = case when v_new_step = 'RUNNING' then null else p_emitted_at end,
        last_error = case when v_new_step = 'FAILED' then p_payload -> 'error' else last_error end,
        reason = case when v_new_step = 'SKIPPED' then p_payload ->> 'reason' else reason end,
        output = case when v_new_step = 'COMPLETED' then p_payload -> 'output' else output end,
        updated_seq = v_seq
      where run_id = p_run_id and step_id = p_step_id;
    end if;

    v_terminal := v_run.status in ('COMPLETED', 'FAILED', 'CANCELLED');

    update runs set
      last_seq = v_seq,
      updated_at = clock_timestamp(),
      status = case
        when v_terminal then status
        when p_event_type in ('RunStarted', 'RunResumed') then 'RUNNING'
        when p_event_type = 'RunPaused' then 'PAUSED'
        when p_event_type = 'RunCompleted' then 'COMPLETED'
        when p_event_type = 'RunFailed' then 'FAILED'
        when p_event_type = 'RunCancelled' then 'CANCELLED'
        else status
      end,
      substatus = case
        when v_terminal then substatus
        when p_event_type = 'ApprovalRequested' then 'WAITING_APPROVAL'
        when p_event_type in ('ApprovalGranted', 'RunCompleted', 'RunFailed', 'RunCancelled') then null
        else substatus
      end,
      original_run_id = case
        when p_event_type = 'RunQueued' then coalesce(p_payload ->> 'originalRunId', original_run_id)
        else original_run_id
      end,
      started_at = case
        when p_event_type = 'RunStarted' then coalesce(started_at, p_emitted_at)
        else started_at
      end,
      ended_at = case
        when not v_terminal and p_event_type in ('RunCompleted', 'RunFailed', 'RunCancelled') then p_emitted_at
        else ended_at
      end,
      error = case
        when not v_terminal and p_event_type in ('RunFailed', 'RunCancelled') then coalesce(p_payload -> 'error', error)
        else error
      end,
      steps_total = steps_total + v_added,
      steps_pending = steps_pending + v_added
        - coalesce((v_old_step = 'PENDING')::int, 0) + coalesce((v_new_step = 'PENDING')::int, 0),
      steps_running = steps_running
        - coalesce((v_old_step = 'RUNNING')::int, 0) + coalesce((v_new_step = 'RUNNING')::int, 0),
      steps_completed = steps_completed
        - coalesce((v_old_step = 'COMPLETED')::int, 0) + coalesce((v_new_step = 'COMPLETED')::int, 0),
      steps_failed = steps_failed
        - coalesce((v_old_step = 'FAILED')::int, 0) + coalesce((v_new_step = 'FAILED')::int, 0),
      steps_skipped = steps_skipped
        - coalesce((v_old_step = 'SKIPPED')::int, 0) + coalesce((v_new_step = 'SKIPPED')::int, 0)
    where run_id = p_run_id;

    perform pg_notify('dvt_run_events', p_run_id);
  end if;

  select e.event_id, e.run_id, e.run_seq, e.idempotency_key, e.tenant_id, e.project_id,
         e.environment, e.plan_id, e.plan_version, e.step_id, e.logical_attempt_id, e.attempt,
         e.event_type, e.payload, e.emitted_at, e.persisted_at
  into "eventId", "runId", "runSeq", "idempotencyKey", "tenantId", "projectId",
       "environment", "planId", "planVersion", "stepId", "logicalAttemptId", "attempt",
       "eventType", "payload", "emittedAt", "persistedAt"
  from run_events e where e.event_id = v_event_id;
end;
$$;
