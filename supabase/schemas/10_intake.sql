-- Public intake: the table intake_log, the canonical client (internal.intake_client) and
-- public.lead_external, the lead intake without an API key, limited per channel and client.

-- The public intake guard counts clients, not text: the edge function passes the address in
-- canonical form (IPv4 dotted decimal, IPv6 as its /64 prefix, anything else 'unknown'), and
-- rows older than the window are deleted as leads are admitted, so intake_log stays bounded by
-- the leads of the last minute.

-- internal.intake_client(client): the client as counted: itself when it has the canonical form
-- (dotted IPv4, an IPv6 /64 prefix, 'unknown'; at most 24 characters), else 'unknown'. Null is
-- 'unknown'. intake_log's check uses it, so it is immutable and keeps its SET clause (it is not
-- on a path that needs inlining).
create function internal.intake_client(client text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when client ~ '^(unknown|[0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-f:]{2,21}/64)$' then client else 'unknown' end
$$;
revoke execute on function internal.intake_client(text) from public;

-- Public intake admitted per channel and client, for the per-minute limit. Only a canonical
-- client is ever stored (at most 24 characters).
create table public.intake_log (
  channels_id uuid not null references public.channels (id) on delete cascade,
  client text not null,
  created_at timestamptz not null default now(),
  constraint intake_log_client_check check (client = internal.intake_client(client))
);
create index intake_log_key_idx on public.intake_log (channels_id, client, created_at);
-- The oldest rows first, for the cleanup in lead_external.
create index intake_log_created_at_idx on public.intake_log (created_at);
alter table public.intake_log enable row level security;
revoke all on public.intake_log from anon, authenticated;

-- public.lead_external(args, client): the public lead intake, without an API key.
-- args.channel_id is the channel's id or its public uuid; the channel must have no_auth_api.
-- Same lead, event and rewards as create_lead (internal.insert_lead), no webhook.
-- Errors: 404 Channel not found; 403 Public API not enabled for this channel; 429 Too many
-- requests.
-- The intake limit is checked after the channel checks: at most intake_per_minute leads per
-- channel and client in any 60 s. Over it → 429, nothing written, with the seconds until the
-- oldest counted lead leaves the window (1-60) as the error's detail ("retry_after=<s>"), which
-- the API answers as Retry-After. A transaction-scoped advisory lock on (channel, client) makes
-- concurrent requests of one client count one after another. A client that is not in canonical
-- form (null included) counts as the one shared 'unknown' client, never as its text. Only rows
-- inside the window are counted (the index on (channels_id, client, created_at) serves it), so
-- the count does not depend on the cleanup having run. Once the lead is admitted, up to 20 rows older than the window, of any channel and client,
--   oldest first, are deleted. Every admitted lead adds one row and removes up to 20 expired
--   ones, so expired rows never pile up, and each call's cost stays bounded (an index range on
--   created_at, at most 20 rows) however many clients there are. FOR UPDATE SKIP LOCKED: rows a
--   concurrent call is already deleting are skipped, so calls of different clients never wait
--   for each other here. A rejected call (429) rolls back and deletes nothing, and adds nothing.
create function public.lead_external(args jsonb, client text)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_channel public.channels;
  v_client text := internal.intake_client(client);
  v_count integer;
  v_oldest timestamptz;
begin
  select c.* into v_channel from public.channels c
  where c.id = (args ->> 'channel_id')::uuid or c.uuid = (args ->> 'channel_id')::uuid
  limit 1;
  if v_channel.id is null then
    perform internal.fail(404, 'channel_not_found', 'Channel not found');
  end if;
  if not v_channel.no_auth_api then
    perform internal.fail(403, 'public_api_disabled', 'Public API not enabled for this channel');
  end if;

  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(v_channel.id::text || '|' || v_client, 0));
  select count(*), min(i.created_at) into v_count, v_oldest
  from public.intake_log i
  where i.channels_id = v_channel.id and i.client = v_client and i.created_at > now() - interval '1 minute';
  if v_count >= v_channel.intake_per_minute then
    raise exception using errcode = 'PT429', message = 'Too many requests', hint = 'rate_limited',
      detail = 'retry_after=' || least(60, greatest(1,
        ceil(extract(epoch from v_oldest + interval '1 minute' - now()))::integer));
  end if;
  delete from public.intake_log i
  where i.ctid = any (array(
    select o.ctid from public.intake_log o
    where o.created_at <= now() - interval '1 minute'
    order by o.created_at
    limit 20
    for update skip locked
  ));
  insert into public.intake_log (channels_id, client) values (v_channel.id, v_client);
  return internal.insert_lead(v_channel, null, args, false);
end;
$$;
revoke execute on function public.lead_external(jsonb, text) from public, anon, authenticated;
grant execute on function public.lead_external(jsonb, text) to service_role;
