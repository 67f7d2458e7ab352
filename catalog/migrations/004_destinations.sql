-- Several destinations per target, each backup's copies with their own status, and encryption to age
-- recipients. A backup row's storage_url/storage_key stay those of its primary copy.

alter table targets
  -- Storage URLs, the first one primary; null for the default storage.
  add column destinations text[],
  -- age recipients (public keys); null for unencrypted archives.
  add column encryption_recipients text[];

alter table backups
  -- Completed with its primary copy, but a secondary copy failed after its retries.
  add column degraded boolean not null default false,
  add column encrypted boolean not null default false;

create table backup_copies (
  backup_id uuid not null references backups (id) on delete cascade,
  position integer not null check (position >= 0),
  storage_url text not null,
  storage_key text not null,
  status text not null check (status in ('completed', 'failed')),
  size_bytes bigint,
  error_code text,
  error_message text,
  recorded_at timestamptz not null default now(),
  primary key (backup_id, position)
);

insert into backup_copies (backup_id, position, storage_url, storage_key, status, size_bytes)
  select id, 0, storage_url, storage_key, 'completed', size_bytes
    from backups where status = 'completed' and storage_url is not null and storage_key is not null;
