-- Retention: per-target policies, each backup's categories and projected expiry, deletions that keep
-- failing, and the global settings.

alter table targets add column retention_policy jsonb;

alter table backups
  add column categories text[] not null default '{}',
  add column expires_at timestamptz,
  add column deletion_attempts integer not null default 0,
  add column deletion_error text,
  add column deletion_failed_at timestamptz;

create table settings (
  id boolean primary key default true check (id),
  value jsonb not null,
  updated_at timestamptz not null default now(),
  updated_by text
);
