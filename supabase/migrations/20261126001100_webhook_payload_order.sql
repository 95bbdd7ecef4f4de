-- Webhook payloads in the documented key order (API.md §5): {"type", "id", "created_at",
-- "data": {"lead", "status"}}, with the Lead's keys in the order of API responses. jsonb
-- stores an object's keys sorted (shortest first), so the outbox keeps the payload as json,
-- which is its text exactly as built, and the sweeper signs and sends that text unchanged.

-- Rows queued before this migration keep jsonb's key order: it cannot be recovered.
alter table public.webhook_deliveries alter column payload type json using payload::json;

-- internal.queue_webhook(channel_id, event_id, type, url, lead, status): queues one
-- delivery in the outbox, in the caller's transaction. The payload is fixed now, so every
-- attempt sends the same body, byte for byte.
create or replace function internal.queue_webhook(
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

-- public.claim_webhook_deliveries(batch_size, lease_seconds): as before (see
-- 20261126000900_webhook_delivery.sql), except that each delivery's payload comes as a
-- string holding the stored JSON text, so no client-side parsing can reorder or round it.
-- Returns [{id, event_id, url, payload, secret, attempt}].
create or replace function public.claim_webhook_deliveries(batch_size integer, lease_seconds integer)
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
  select coalesce(json_agg(json_build_object('id', c.id, 'event_id', c.events_id, 'url', c.url,
    'payload', c.payload::text, 'secret', ch.webhook_secret, 'attempt', c.attempts)
    order by c.next_attempt_at, c.id), '[]'::json)
  into v_claimed
  from claimed c join public.channels ch on ch.id = c.channels_id;
  return v_claimed;
end;
$$;
revoke execute on function public.claim_webhook_deliveries(integer, integer) from public, anon, authenticated;
grant execute on function public.claim_webhook_deliveries(integer, integer) to service_role;
