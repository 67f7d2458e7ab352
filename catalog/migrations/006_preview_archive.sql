-- The worker that holds a preview's extracted archive: the restore the token confirms goes there first.
alter table restore_tokens add column archive_queue text;
