-- Every API token belongs to a person (or system) by name: a restore's approver must be another owner,
-- not merely another token of the same one. Existing tokens are their own owners.
alter table api_tokens add column owner text;
update api_tokens set owner = name;
alter table api_tokens alter column owner set not null;
