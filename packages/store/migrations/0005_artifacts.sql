-- Artifact metadata (both backends) and the bytes of the PostgreSQL backend. Artifacts are
-- content-addressed per tenant and immutable: rows are never updated.
create function refuse_update() returns trigger
language plpgsql as $$
begin
  raise exception '% is immutable: UPDATE is not allowed', tg_table_name
    using errcode = 'restrict_violation';
end;
$$;

create table artifact_blobs (
  blob_id uuid not null,
  seq integer not null check (seq >= 0),
  data bytea not null,
  primary key (blob_id, seq)
);

create table artifacts (
  tenant_id text not null,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  kind text not null,
  size_bytes bigint not null check (size_bytes >= 0),
  content_type text not null,
  backend text not null check (backend in ('s3', 'postgres')),
  -- postgres backend: the chunks in artifact_blobs; null for s3.
  blob_id uuid,
  created_by text not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (tenant_id, sha256)
);

create trigger artifacts_immutable before update on artifacts
  for each row execute function refuse_update();
create trigger artifact_blobs_immutable before update on artifact_blobs
  for each row execute function refuse_update();
