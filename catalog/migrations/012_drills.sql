-- Restore drills: each backup restored into a scratch database on a drill server and checked, with the
-- outcome of every check and the measured restore time. `failed` says the backup is broken; `error` that
-- the drill itself could not run (no drill server, no space, a worker lost), which proves nothing.

create table drills (
  id uuid primary key,
  backup_id uuid not null references backups (id) on delete cascade,
  target_id uuid not null references targets (id) on delete cascade,
  workflow_id text not null,
  trigger text not null check (trigger in ('after_backup', 'schedule', 'manual')),
  requested_by text,
  -- The copy that was fetched (rotating through the copies), and the drill server (a registered target).
  storage_url text,
  server_target_id uuid references targets (id) on delete set null,
  scratch_database text,
  status text not null default 'queued' check (status in ('queued', 'running', 'passed', 'failed', 'error')),
  checks jsonb not null default '[]',
  error_code text,
  error_message text,
  rto_seconds double precision,
  checks_seconds double precision,
  peak_bytes bigint,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);

create index drills_by_backup on drills (backup_id, created_at desc);
create index drills_by_target on drills (target_id, created_at desc);
create index drills_unfinished on drills (server_target_id) where status in ('queued', 'running');

-- A copy a drill found damaged: restores read the others first.
alter table backup_copies add column broken_at timestamptz, add column broken_reason text;
