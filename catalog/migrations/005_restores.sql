-- Restores: the operations with who asked and who approved, every step's outcome, the one-restore-per-
-- database lock, and the short-lived confirmation tokens a preview issues.

create table restore_operations (
  id uuid primary key,
  workflow_id text not null unique,
  -- No foreign key: retention may remove the backup later, and the record of the restore must stay.
  backup_id uuid not null,
  source_target_name text not null,
  target_id uuid references targets (id) on delete set null,
  target_name text not null,
  -- {kind: 'target' | 'new-database', targetId, targetName, database}
  destination jsonb not null,
  -- host:port/database of the database written to. While an operation is unfinished it holds the lock
  -- below: one restore per database at a time.
  lock_key text not null,
  mode text not null check (mode in ('full', 'schema-only', 'data-only', 'tables')),
  options jsonb not null,
  status text not null check (
    status in ('pending', 'awaiting_approval', 'running', 'rolling_back', 'completed', 'failed', 'cancelled')
  ),
  requested_by text not null,
  approved_by text,
  approved_at timestamptz,
  safety_backup_id uuid,
  -- An age identity for an encrypted backup, AES-256-GCM-sealed with LIFEBOAT_SECRET_KEY; wiped when the
  -- operation ends, never returned.
  identity_ciphertext text,
  -- [{step, status, code, message, at}], appended as the workflow goes.
  steps jsonb not null default '[]',
  result jsonb,
  error_code text,
  error_message text,
  -- How the compensation ended: not_needed, completed or failed (with its own code).
  rollback_status text check (rollback_status in ('not_needed', 'completed', 'failed')),
  rollback_error_code text,
  rollback_error_message text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);

create unique index restore_operations_one_per_database on restore_operations (lock_key)
  where finished_at is null;
create index restore_operations_target_created on restore_operations (target_name, created_at desc);

create table restore_tokens (
  -- sha256 of the token; the token itself is shown once, in the preview.
  token_hash text primary key,
  -- Names the preview that issued the token, for the worker that reads the archive for it.
  preview_id uuid not null unique,
  -- The request's age identity, sealed, while the preview reads an encrypted archive; wiped right after.
  identity_ciphertext text,
  backup_id uuid not null,
  -- sha256 of the canonical request (backup, destination, mode and options) the token confirms.
  binding_hash text not null,
  created_by text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  operation_id uuid
);

create index restore_tokens_expires on restore_tokens (expires_at);
