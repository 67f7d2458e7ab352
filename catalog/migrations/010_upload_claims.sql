-- Where an upload in progress puts its objects, written with its running backup row in one transaction, so
-- that reconciliation can remove them when the API storing it died. The uploading API holds a session-level
-- advisory lock on the backup id while the claim exists; a claim whose lock can be taken has no uploader.

create table upload_claims (
  backup_id uuid primary key references backups (id) on delete cascade,
  storage_key text not null,
  -- Every destination the archive is stored in, primary first, as they were when the upload began.
  storage_urls text[] not null check (cardinality(storage_urls) > 0),
  claimed_at timestamptz not null default now()
);
