-- Answers the engine gave to run signals, keyed by the caller's signalId: a repeated signalId
-- gets the stored answer back and changes nothing, also after the run has ended.
create table engine_signals (
  run_id text not null,
  signal_id text not null,
  type text not null,
  step_id text,
  answer jsonb not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (run_id, signal_id)
);
