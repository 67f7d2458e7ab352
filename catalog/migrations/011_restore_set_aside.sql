-- The databases restores by swap set aside: each is the target's database as it was before the restore,
-- renamed, kept until keep_until as the safety copy, then dropped by the sweep. The row stays as the
-- record of what happened to it.

create table restore_set_aside (
  operation_id uuid primary key references restore_operations (id) on delete cascade,
  target_id uuid not null references targets (id) on delete cascade,
  -- The name the database had, and has again if the restore is swapped back.
  database_name text not null,
  aside_name text not null,
  -- pg_database.oid on the target's server: a database renamed since is never dropped by name alone.
  aside_oid bigint not null,
  set_aside_at timestamptz not null default now(),
  keep_until timestamptz not null,
  -- When the sweep dropped it, or found it gone or renamed; outcome says which.
  ended_at timestamptz,
  outcome text check (outcome in ('dropped', 'gone', 'renamed', 'swapped_back'))
);

create index restore_set_aside_due on restore_set_aside (keep_until) where ended_at is null;
