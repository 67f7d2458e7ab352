-- Two-phase deletion: a deleted backup is first moved to the trash (its objects stay) and removed for good
-- by the retention sweep once purge_after has passed. The audit log records what a forced call overrode,
-- and failed authentications are counted per day and client address instead of one row each.

alter table backups
  add column trashed_at timestamptz,
  add column trashed_by text,
  -- Fixed when the backup is trashed: lowering deleteGraceDays later does not shorten it.
  add column purge_after timestamptz,
  add check ((trashed_at is null) = (purge_after is null));

create index backups_purge_after on backups (purge_after) where purge_after is not null;

alter table audit_log add column details jsonb;

create table auth_failures (
  day date not null,
  remote_address text not null,
  failures bigint not null default 0,
  -- Of them, the ones refused with 429 before the token was even looked at.
  rate_limited bigint not null default 0,
  last_at timestamptz not null default now(),
  primary key (day, remote_address)
);
