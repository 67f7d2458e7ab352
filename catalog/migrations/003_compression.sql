-- How each target's archives are compressed: zstd by default, gzip for compatibility, or none.
alter table targets
  add column compression text not null default 'zstd' check (compression in ('zstd', 'gzip', 'none'));
