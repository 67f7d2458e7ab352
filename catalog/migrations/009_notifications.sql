-- Notifications: the channels operators are told on, the rules that route events to them, every delivery
-- of an event to a channel (one row each, whatever the retries), and the episodes of lasting conditions
-- (a schedule failing, a target without a fresh backup) that are told once when they start and end.

create table notification_channels (
  id uuid primary key,
  name text not null unique,
  kind text not null check (kind in ('email', 'webhook', 'slack', 'teams', 'ntfy')),
  -- Non-secret settings only; secrets are named by environment variable (…Env), read by the worker at send time.
  config jsonb not null,
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table notification_rules (
  id uuid primary key,
  name text not null unique,
  enabled boolean not null default true,
  scope text not null check (scope in ('global', 'target', 'schedule')),
  target_id uuid references targets (id) on delete cascade,
  schedule_name text,
  event_kinds text[] not null check (cardinality(event_kinds) > 0),
  -- null: every enabled channel; empty: nobody (the events are silenced). A channel named here cannot be deleted.
  channel_ids uuid[],
  params jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((scope = 'target') = (target_id is not null)),
  check ((scope = 'schedule') = (schedule_name is not null))
);

create table notification_deliveries (
  id bigserial primary key,
  event_id text not null,
  channel_id uuid not null references notification_channels (id) on delete cascade,
  event_kind text not null,
  target_name text,
  -- pending: not sent yet (attempts > 0 with last_error: retrying); sent; failed: given up.
  status text not null check (status in ('pending', 'sent', 'failed')),
  attempts integer not null default 0,
  last_error text,
  -- What the receiver answered (an SMTP message id, an HTTP status); never a secret.
  detail text,
  first_attempt_at timestamptz,
  last_attempt_at timestamptz,
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  unique (event_id, channel_id)
);

create index notification_deliveries_created on notification_deliveries (created_at desc);
create index notification_deliveries_channel_status on notification_deliveries (channel_id, status);

create table notification_episodes (
  id bigserial primary key,
  -- The kind that opened it: schedule.failing, target.stale, storage.nearly_full.
  rule_kind text not null,
  -- A schedule's name, a target's id, or the storage scope.
  subject_id text not null,
  -- What names the episode: the first failed backup, the last success it follows, the check that found it.
  episode_key text not null,
  opened_event_id text not null unique,
  opened_at timestamptz not null default now(),
  resolved_at timestamptz,
  resolved_event_id text
);

-- One open episode per condition and subject.
create unique index notification_episodes_open on notification_episodes (rule_kind, subject_id)
  where resolved_at is null;
