-- Outbox of webhook deliveries. A row is queued in the same transaction as the lead change
-- it announces, so a rolled-back change announces nothing; delivery happens after commit.

create table public.webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  channels_id uuid not null references public.channels (id) on delete cascade,
  events_id uuid not null references public.events (id),
  type text not null check (type in ('lead.created', 'lead.status_updated')),
  url text not null,
  payload jsonb not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  delivered_at timestamptz,
  last_error text
);
-- The delivery sweep's lookup: due pending rows.
create index webhook_deliveries_due_idx on public.webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_channels_id_idx on public.webhook_deliveries (channels_id, created_at desc);
create index webhook_deliveries_events_id_idx on public.webhook_deliveries (events_id);

alter table public.webhook_deliveries enable row level security;
revoke all on public.webhook_deliveries from anon, authenticated;

-- new_lead and status_change rewards are paid at most once per trigger and lead, ever; the
-- lead row lock in update_status serialises writers, and this index makes it a guarantee.
create unique index reward_events_once_per_lead_idx on public.reward_events (reward_triggers_id, leads_id)
  where purchases_id is null;
