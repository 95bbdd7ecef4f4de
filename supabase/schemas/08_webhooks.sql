-- Webhooks: the outbox (webhook_deliveries, one row per delivery, queued in the transaction of
-- the change it announces), its attempts (webhook_attempts), queueing (internal.queue_webhook
-- for the lead events, internal.queue_money_webhook for the money events of
-- 11_money_webhooks.sql) and the sweeper's functions claim_webhook_deliveries and
-- record_webhook_attempt. What a receiver gets: docs/webhooks.md.

-- A row is queued in the same transaction as the lead change it announces, so a rolled-back
-- change announces nothing; delivery happens after commit. The payload is json, not jsonb: json
-- keeps its text exactly as built, in the documented key order ({"type", "id", "created_at",
-- "data": {"lead", "status"}}), and the sweeper signs and sends that text unchanged.
-- events_id: the lead event a lead webhook announces, which is its id (Webhook-Id); a money
-- webhook has none, its id is the delivery's own.
create table public.webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  channels_id uuid not null references public.channels (id) on delete cascade,
  events_id uuid references public.events (id),
  type text not null check (type in ('lead.created', 'lead.status_updated', 'purchase.created', 'refund.created',
    'reward_event.updated', 'payout.created', 'payout.paid', 'payout.cancelled')),
  url text not null,
  payload json not null,
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

-- Every attempt of a delivery.
create table public.webhook_attempts (
  id uuid primary key default gen_random_uuid(),
  webhook_deliveries_id uuid not null references public.webhook_deliveries (id) on delete cascade,
  attempt integer not null,
  created_at timestamptz not null default now(),
  status_code integer,
  latency_ms integer not null,
  error text
);
create index webhook_attempts_webhook_deliveries_id_idx on public.webhook_attempts (webhook_deliveries_id, attempt);
alter table public.webhook_attempts enable row level security;
revoke all on public.webhook_attempts from anon, authenticated;

-- How long a delivery is retried before it is marked failed.
create function internal.webhook_retry_window()
returns interval
language plpgsql
immutable
set search_path = ''
as $$
begin
  return interval '24 hours';
end;
$$;
revoke execute on function internal.webhook_retry_window() from public;

-- internal.queue_webhook(channel_id, event_id, type, url, lead, status): queues one
-- delivery in the outbox, in the caller's transaction. The payload is fixed now, so every
-- attempt sends the same body, byte for byte.
create function internal.queue_webhook(
  channel_id uuid,
  event_id uuid,
  type text,
  url text,
  lead json,
  status text
)
returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into public.webhook_deliveries (channels_id, events_id, type, url, payload)
  values (channel_id, event_id, type, url, json_build_object(
    'type', type,
    'id', event_id,
    'created_at', internal.iso_time(now()),
    'data', json_build_object('lead', lead, 'status', status)
  ));
end;
$$;
revoke execute on function internal.queue_webhook(uuid, uuid, text, text, json, text) from public;

-- internal.queue_money_webhook(channel_id, url, type, data): queues one money webhook
-- (11_money_webhooks.sql) in the outbox, in the caller's transaction: {"type", "id",
-- "created_at", "data"}, the id being the delivery's own (there is no lead event), fixed now
-- like queue_webhook's payload.
create function internal.queue_money_webhook(channel_id uuid, url text, type text, data json)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid := gen_random_uuid();
begin
  insert into public.webhook_deliveries (id, channels_id, type, url, payload)
  values (v_id, channel_id, type, url, json_build_object(
    'type', type,
    'id', v_id,
    'created_at', internal.iso_time(now()),
    'data', data
  ));
end;
$$;
revoke execute on function internal.queue_money_webhook(uuid, text, text, json) from public;

-- public.claim_webhook_deliveries(batch_size, lease_seconds): claims up to batch_size due
-- pending deliveries for this sweeper. Each claimed row's attempt counter goes up and its
-- next_attempt_at moves lease_seconds ahead, so no other sweeper takes it meanwhile (rows
-- locked by a concurrent claim are skipped); a sweeper that dies leaves the row to be taken
-- again when the lease ends (at-least-once). Returns [{id, event_id, url, payload, secret,
-- attempt}] with the channel's signing secret, event_id being the payload's id (the lead
-- event's, else the delivery's); each payload comes as a string holding the stored
-- JSON text, so no client-side parsing can reorder or round it.
create function public.claim_webhook_deliveries(batch_size integer, lease_seconds integer)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_claimed json;
begin
  with due as (
    select d.id from public.webhook_deliveries d
    where d.status = 'pending' and d.next_attempt_at <= now()
    order by d.next_attempt_at
    limit batch_size
    for update skip locked
  ), claimed as (
    update public.webhook_deliveries d
    set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => lease_seconds)
    from due where d.id = due.id
    returning d.*
  )
  select coalesce(json_agg(json_build_object('id', c.id, 'event_id', coalesce(c.events_id, c.id), 'url', c.url,
    'payload', c.payload::text, 'secret', ch.webhook_secret, 'attempt', c.attempts)
    order by c.next_attempt_at, c.id), '[]'::json)
  into v_claimed
  from claimed c join public.channels ch on ch.id = c.channels_id;
  return v_claimed;
end;
$$;
revoke execute on function public.claim_webhook_deliveries(integer, integer) from public, anon, authenticated;
grant execute on function public.claim_webhook_deliveries(integer, integer) to service_role;

-- public.record_webhook_attempt(delivery_id, attempt, status_code, latency_ms, error,
-- retry_in_ms): records one attempt. A 2xx marks the delivery delivered. Otherwise it is
-- retried in retry_in_ms, unless retry_in_ms is null (not retryable) or the retry would fall
-- past the retry window counted from its creation: then it is marked failed. Only the
-- sweeper holding the attempt (the delivery's current attempt number) changes the delivery.
-- Returns {"status": "delivered" | "pending" | "failed"}.
create function public.record_webhook_attempt(
  delivery_id uuid,
  attempt integer,
  status_code integer,
  latency_ms integer,
  error text,
  retry_in_ms integer
)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_status text;
begin
  insert into public.webhook_attempts (webhook_deliveries_id, attempt, status_code, latency_ms, error)
  values (delivery_id, attempt, status_code, latency_ms, error);

  update public.webhook_deliveries d set
    status = case
      when status_code between 200 and 299 then 'delivered'
      when retry_in_ms is null
        or now() + make_interval(secs => retry_in_ms / 1000.0) > d.created_at + internal.webhook_retry_window()
        then 'failed'
      else 'pending'
    end,
    delivered_at = case when status_code between 200 and 299 then now() end,
    next_attempt_at = case when status_code between 200 and 299 or retry_in_ms is null then d.next_attempt_at
      else now() + make_interval(secs => retry_in_ms / 1000.0) end,
    last_error = case when status_code between 200 and 299 then null
      else coalesce(error, 'HTTP ' || status_code) end
  where d.id = delivery_id and d.attempts = attempt and d.status = 'pending'
  returning d.status into v_status;

  return json_build_object('status', coalesce(v_status,
    (select d.status from public.webhook_deliveries d where d.id = delivery_id)));
end;
$$;
revoke execute on function public.record_webhook_attempt(uuid, integer, integer, integer, text, integer)
  from public, anon, authenticated;
grant execute on function public.record_webhook_attempt(uuid, integer, integer, integer, text, integer) to service_role;
