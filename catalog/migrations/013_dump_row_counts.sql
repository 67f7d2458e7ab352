-- The rows every COPY of a backup's dump carries, counted once (by the first restore by swap or drill
-- that reads the dump) and kept with the archive's sha256, so that later ones need not read the dump twice.

create table dump_row_counts (
  backup_id uuid primary key references backups (id) on delete cascade,
  archive_sha256 text not null,
  counts jsonb not null,
  counted_at timestamptz not null default now()
);
