-- Transactional outbox (one row per event, written by the append function) and webhook
-- subscriptions with one delivery row per (subscription, event). Relays claim rows by their
-- state with FOR UPDATE SKIP LOCKED, never by a high-water mark of ids: an id taken by a
-- transaction that commits late is still claimed when it becomes visible (field case B03).
create table outbox (
  id bigint generated always as identity primary key,
  event_id uuid not null unique references run_events (event_id),
  run_id text not null,
  run_seq bigint not null,
  tenant_id text not null,
  project_id text not null,
  event_type text not null,
  state text not null default 'pending' check (state in ('pending', 'done')),
  created_at timestamptz not null default clock_timestamp(),
  processed_at timestamptz
);

create index outbox_pending on outbox (id) where state = 'pending';
create index outbox_pending_by_run on outbox (run_id, run_seq) where state = 'pending';

create table webhook_subscriptions (
  id uuid primary key default gen_random_uuid(),
  tenant_id text not null,
  project_id text not null,
  url text not null check (url ~ '^https?://'),
  secret text not null check (length(secret) >= 16),
  -- null: every event type.
  event_types text[],
  created_at timestamptz not null default clock_timestamp(),
  disabled_at timestamptz
);

create index webhook_subscriptions_active
  on webhook_subscriptions (tenant_id, project_id) where disabled_at is null;

create table webhook_deliveries (
  id bigint generated always as identity primary key,
  subscription_id uuid not null references webhook_subscriptions (id),
  event_id uuid not null references run_events (event_id),
  run_id text not null,
  run_seq bigint not null,
  state text not null default 'pending'
    check (state in ('pending', 'delivered', 'dead', 'cancelled')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default clock_timestamp(),
  last_status integer,
  last_error text,
  created_at timestamptz not null default clock_timestamp(),
  delivered_at timestamptz,
  constraint webhook_deliveries_once unique (subscription_id, event_id)
);

create index webhook_deliveries_pending
  on webhook_deliveries (next_attempt_at, id) where state = 'pending';
create index webhook_deliveries_pending_chain
  on webhook_deliveries (subscription_id, run_id, run_seq) where state = 'pending';
