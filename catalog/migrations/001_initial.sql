-- Lifeboat's catalog: targets, backups, API tokens and the audit log of every mutating API call.

create table targets (
  id uuid primary key,
  name text not null unique,
  description text,
  host text not null,
  port integer not null check (port between 1 and 65535),
  database_name text not null,
  username text not null,
  -- AES-256-GCM with LIFEBOAT_SECRET_KEY; never returned by the API.
  password_ciphertext text,
  -- Or the name of an environment variable that holds the password on the worker.
  password_env text,
  documents_dir text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (password_ciphertext is null or password_env is null)
);

create table backups (
  id uuid primary key,
  target_id uuid not null references targets (id) on delete restrict,
  target_name text not null,
  workflow_id text not null unique,
  status text not null check (status in ('running', 'completed', 'failed', 'cancelled')),
  trigger text not null,
  requested_by text,
  display_name text,
  description text,
  tags text[] not null default '{}',
  protected boolean not null default false,
  storage_url text,
  storage_key text,
  size_bytes bigint,
  sha256 text,
  md5 text,
  manifest jsonb,
  error_code text,
  error_message text,
  started_at timestamptz not null,
  finished_at timestamptz,
  dump_ms integer,
  archive_ms integer,
  upload_ms integer,
  created_at timestamptz not null default now()
);

create index backups_target_started on backups (target_id, started_at desc);
create index backups_status on backups (status);

create table api_tokens (
  id uuid primary key,
  name text not null unique,
  role text not null check (role in ('admin', 'operator', 'viewer')),
  -- sha256 of the token; the token itself is shown once, when created.
  token_hash text not null unique,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

create table audit_log (
  id bigserial primary key,
  at timestamptz not null default now(),
  actor text,
  role text,
  method text not null,
  path text not null,
  action text not null,
  resource_id text,
  outcome text not null check (outcome in ('success', 'denied', 'failed')),
  status integer not null,
  error_code text,
  remote_address text
);

create index audit_log_at on audit_log (at desc);
