-- Channels and leads: get_channels, get_leads, get_lead_by_id, get_lead_by_legacy_id,
-- create_lead, lead_external, update_lead, update_status, update_status_id.

-- ---------------------------------------------------------------------------------------
-- Shared helpers
-- ---------------------------------------------------------------------------------------

-- internal.accessible_channel(company, channel_id): a channel the company may act on, else
-- 403 "Channel not accessible" (also for a channel that does not exist).
create function internal.accessible_channel(company uuid, channel_id uuid)
returns public.channels
language plpgsql
stable
set search_path = ''
as $$
declare
  v_channel public.channels;
begin
  select c.* into v_channel from public.channels c where c.id = accessible_channel.channel_id;
  if v_channel.id is null or not internal.can_access(v_channel, company) then
    perform internal.fail(403, 'channel_not_accessible', 'Channel not accessible');
  end if;
  return v_channel;
end;
$$;
revoke execute on function internal.accessible_channel(uuid, uuid) from public;

-- internal.accessible_lead(company, lead_id, lock): a lead on a channel the company may act
-- on, else 403 "Lead not accessible". With lock, the row is then locked for update, which
-- serialises concurrent writers of the same lead; access is checked first, so no one can
-- lock (or time) a lead they may not see.
create function internal.accessible_lead(company uuid, lead_id uuid, lock boolean)
returns public.leads
language plpgsql
set search_path = ''
as $$
declare
  v_lead public.leads;
begin
  select l.* into v_lead from public.leads l
  join public.channels c on c.id = l.channels_id
  where l.id = accessible_lead.lead_id and internal.can_access(c, company);
  if v_lead.id is null then
    perform internal.fail(403, 'lead_not_accessible', 'Lead not accessible');
  end if;
  if lock then
    select l.* into v_lead from public.leads l where l.id = v_lead.id for update;
  end if;
  return v_lead;
end;
$$;
revoke execute on function internal.accessible_lead(uuid, uuid, boolean) from public;

-- internal.lead_objects: every lead with its API Lead object, set-based so that a page of
-- leads is one query. `employee` and `referring_employee` carry the same value;
-- property_values are nested with their definitions, in definition order. Filter it by id or
-- channel: the object is only built for the rows returned.
create view internal.lead_objects as
select l.id, l.channels_id, l.created_at, json_build_object(
  'id', l.id,
  'legacy_id', l.legacy_id,
  'created_at', internal.iso_time(l.created_at),
  'email', l.email,
  'first_name', l.first_name,
  'last_name', l.last_name,
  'phone', l.phone,
  'company_name', l.company_name,
  'source', l.source,
  'employee', l.employee,
  'referring_employee', l.employee,
  'notes', l.notes,
  'business_id', l.business_id,
  'channels_id', l.channels_id,
  'lead_status_id', l.lead_status_id,
  'status', s.status,
  'property_values', coalesce(pv.items, '[]'::json)
) as lead
from public.leads l
left join public.lead_status s on s.id = l.lead_status_id
left join lateral (
  select json_agg(json_build_object(
    'id', v.id,
    'value', v.value,
    'property_definitions_id', v.property_definitions_id,
    'property_definitions', json_build_object('id', d.id, 'name', d.name, 'type', d.type)
  ) order by d."order", d.created_at, d.id) as items
  from public.property_values v
  join public.property_definitions d on d.id = v.property_definitions_id
  where v.leads_id = l.id
) pv on true;
revoke all on internal.lead_objects from public;

-- internal.lead_json(lead_id): the API's Lead object of one lead.
create function internal.lead_json(lead_id uuid)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  return (select o.lead from internal.lead_objects o where o.id = lead_json.lead_id);
end;
$$;
revoke execute on function internal.lead_json(uuid) from public;

-- internal.channel_json(channel): the API's Channel object, with its active property
-- definitions and its statuses, each ordered by "order".
create function internal.channel_json(c public.channels)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  return json_build_object(
    'id', c.id,
    'title', c.title,
    'created_at', internal.iso_time(c.created_at),
    'referring_id', c.referring_id,
    'receiving_id', c.receiving_id,
    'creator', c.creator,
    'partner', c.partner,
    'currency', c.currency,
    'no_auth_api', c.no_auth_api,
    'property_definitions', coalesce((
      select json_agg(json_build_object('id', d.id, 'name', d.name, 'type', d.type, 'order', d."order",
        'visible', d.visible) order by d."order", d.created_at, d.id)
      from public.property_definitions d where d.channels_id = c.id and d.active
    ), '[]'::json),
    'lead_status', coalesce((
      select json_agg(json_build_object('id', s.id, 'status', s.status, 'order', s."order",
        'visible', s.visible, 'color', s.color) order by s."order", s.created_at, s.id)
      from public.lead_status s where s.channels_id = c.id
    ), '[]'::json)
  );
end;
$$;
revoke execute on function internal.channel_json(public.channels) from public;

-- internal.encode_cursor(created_at, id) / internal.decode_cursor(cursor): the opaque paging
-- cursor of listings ordered newest first: base64url of "<created_at in µs>|<id>".
-- No cursor (null or "") decodes to nulls: the first page. A cursor that does not decode
-- answers 400 "cursor is invalid".
create function internal.encode_cursor(created_at timestamptz, id uuid)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  return translate(
    encode(convert_to(to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || id, 'UTF8'),
      'base64'),
    E'+/=\n', '-_');
end;
$$;
revoke execute on function internal.encode_cursor(timestamptz, uuid) from public;

create function internal.decode_cursor(cursor text, out created_at timestamptz, out id uuid)
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_text text;
  v_padded text := translate(cursor, '-_', '+/');
begin
  if coalesce(cursor, '') = '' then
    return;
  end if;
  v_padded := v_padded || repeat('=', (4 - length(v_padded) % 4) % 4);
  v_text := convert_from(decode(v_padded, 'base64'), 'UTF8');
  created_at := split_part(v_text, '|', 1)::timestamptz;
  id := split_part(v_text, '|', 2)::uuid;
  if created_at is null or id is null then
    perform internal.fail(400, 'invalid_request', 'cursor is invalid');
  end if;
exception
  when invalid_parameter_value or invalid_text_representation or invalid_datetime_format
    or datetime_field_overflow or character_not_in_repertoire or untranslatable_character then
    perform internal.fail(400, 'invalid_request', 'cursor is invalid');
end;
$$;
revoke execute on function internal.decode_cursor(text) from public;

-- internal.page(name, items, created_ats, ids, page_size): a listing page from up to
-- page_size + 1 rows (newest first): {"<name>": first page_size items, "next_cursor": cursor
-- after the last of them, or null when there was no extra row}.
create function internal.page(name text, items json[], created_ats timestamptz[], ids uuid[], page_size integer)
returns json
language plpgsql
immutable
set search_path = ''
as $$
begin
  return json_build_object(
    name, coalesce(array_to_json(items[1:page_size]), '[]'::json),
    'next_cursor', case when cardinality(items) > page_size
      then internal.encode_cursor(created_ats[page_size], ids[page_size]) end
  );
end;
$$;
revoke execute on function internal.page(text, json[], timestamptz[], uuid[], integer) from public;

-- internal.save_properties(channel_id, lead_id, properties): upserts property values given as
-- [{property_definitions_id, value}] (values already text). Every definition must be active
-- and on the lead's channel, else 400 "Property definition not found on this channel: <id>"
-- for the first one that is not.
create function internal.save_properties(channel_id uuid, lead_id uuid, properties jsonb)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_bad text;
begin
  if properties is null or jsonb_typeof(properties) <> 'array' then
    return;
  end if;
  select p ->> 'property_definitions_id' into v_bad
  from jsonb_array_elements(properties) with ordinality as e (p, n)
  where not exists (
    select 1 from public.property_definitions d
    where d.id = (p ->> 'property_definitions_id')::uuid and d.channels_id = save_properties.channel_id and d.active
  )
  order by n
  limit 1;
  if v_bad is not null then
    perform internal.fail(400, 'property_definition_not_found',
      'Property definition not found on this channel: ' || v_bad);
  end if;
  insert into public.property_values (leads_id, property_definitions_id, value)
  select save_properties.lead_id, (p ->> 'property_definitions_id')::uuid, p ->> 'value'
  from jsonb_array_elements(properties) p
  on conflict (leads_id, property_definitions_id) do update set value = excluded.value;
end;
$$;
revoke execute on function internal.save_properties(uuid, uuid, jsonb) from public;

-- internal.queue_webhook(channel_id, event_id, type, url, lead, status): queues one
-- delivery in the outbox, in the caller's transaction. The payload is fixed now, so every
-- attempt sends the same body.
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
  values (channel_id, event_id, type, url, jsonb_build_object(
    'type', type,
    'id', event_id,
    'created_at', internal.iso_time(now()),
    'data', jsonb_build_object('lead', lead, 'status', status)
  ));
end;
$$;
revoke execute on function internal.queue_webhook(uuid, uuid, text, text, json, text) from public;

-- internal.insert_lead(channel, company, args, webhook): creates a lead in the channel's
-- first status (lowest order) with its properties, the "new_lead" event and the active
-- new_lead rewards (fixed only: there is no base for a percentage), and, when webhook is
-- true and the channel has webhook_new_lead, a queued "lead.created" delivery.
-- company is null for the public intake. Returns {"lead": Lead}.
create function internal.insert_lead(channel public.channels, company uuid, args jsonb, webhook boolean)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_lead public.leads;
  v_event_id uuid;
  v_json json;
begin
  insert into public.leads (channels_id, lead_status_id, email, first_name, last_name, phone, company_name,
    source, employee, notes, business_id)
  values (
    channel.id,
    (select s.id from public.lead_status s where s.channels_id = channel.id
      order by s."order", s.created_at, s.id limit 1),
    args ->> 'email', args ->> 'first_name', args ->> 'last_name', args ->> 'phone', args ->> 'company_name',
    args ->> 'source', args ->> 'employee', args ->> 'notes', args ->> 'business_id'
  )
  returning * into v_lead;

  perform internal.save_properties(channel.id, v_lead.id, args -> 'properties');

  insert into public.events (category, channels_id, leads_id, companies_id, data)
  values ('new_lead', channel.id, v_lead.id, company,
    jsonb_build_object('lead_status_id', v_lead.lead_status_id, 'public', company is null))
  returning id into v_event_id;

  perform internal.fire_rewards(channel, array(
    select t.id from public.reward_triggers t
    where t.channels_id = channel.id and t.trigger = 'new_lead' and t.status = 'Active'
  ), v_lead.id, null, v_event_id, null);

  v_json := internal.lead_json(v_lead.id);
  if webhook and channel.webhook_new_lead is not null then
    perform internal.queue_webhook(channel.id, v_event_id, 'lead.created', channel.webhook_new_lead, v_json,
      v_json ->> 'status');
  end if;
  return json_build_object('lead', v_json);
end;
$$;
revoke execute on function internal.insert_lead(public.channels, uuid, jsonb, boolean) from public;

-- internal.change_status(key_hash, args, by_id): update_status (by_id false: args.status is a
-- status name) and update_status_id (by_id true: args.status_id), which differ only in how
-- the new status is found. Moves an accessible lead, locked, to a status of its channel; the
-- same status again changes nothing. Otherwise: the "status_change" event (old and new
-- status, plus the caller's old_status_id as reported_old_status_id), the active
-- status_change triggers bound to the new status that never paid for this lead, and a queued
-- "lead.status_updated" delivery when the channel has webhook_status_update. Returns the
-- short lead of update_status.
-- Errors: 401 Invalid API key; 403 Lead not accessible; 404 Status "<name>" not found for this
-- channel / Status ID not found (also for a status of another channel).
create function internal.change_status(key_hash text, args jsonb, by_id boolean)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  lead public.leads := internal.accessible_lead(v_company, (args ->> 'lead_id')::uuid, true);
  status public.lead_status;
  v_channel public.channels;
  v_old public.lead_status;
  v_event_id uuid;
  v_lead public.leads := lead;
begin
  select s.* into status from public.lead_status s
  where s.channels_id = lead.channels_id
    and case when by_id then s.id = (args ->> 'status_id')::uuid else s.status = args ->> 'status' end;
  if status.id is null and by_id then
    perform internal.fail(404, 'status_not_found', 'Status ID not found');
  elsif status.id is null then
    perform internal.fail(404, 'status_not_found', format('Status "%s" not found for this channel', args ->> 'status'));
  end if;

  if lead.lead_status_id is distinct from status.id then
    select c.* into v_channel from public.channels c where c.id = lead.channels_id;
    select s.* into v_old from public.lead_status s where s.id = lead.lead_status_id;
    update public.leads l set lead_status_id = status.id where l.id = lead.id returning * into v_lead;

    insert into public.events (category, channels_id, leads_id, companies_id, data)
    values ('status_change', v_channel.id, lead.id, v_company, jsonb_build_object(
      'old_status_id', v_old.id, 'old_status', v_old.status,
      'new_status_id', status.id, 'new_status', status.status,
      'reported_old_status_id', (args ->> 'old_status_id')::uuid
    ))
    returning id into v_event_id;

    perform internal.fire_rewards(v_channel, array(
      select t.id from public.reward_triggers t
      where t.channels_id = v_channel.id and t.trigger = 'status_change' and t.status = 'Active'
        and t.lead_status_id = status.id
        and not exists (
          select 1 from public.reward_events r
          where r.reward_triggers_id = t.id and r.leads_id = lead.id and r.purchases_id is null
        )
    ), lead.id, null, v_event_id, null);

    if v_channel.webhook_status_update is not null then
      perform internal.queue_webhook(v_channel.id, v_event_id, 'lead.status_updated',
        v_channel.webhook_status_update, internal.lead_json(v_lead.id), status.status);
    end if;
  end if;
  return json_build_object('lead', json_build_object(
    'id', v_lead.id,
    'created_at', internal.iso_time(v_lead.created_at),
    'email', v_lead.email,
    'first_name', v_lead.first_name,
    'last_name', v_lead.last_name,
    'status', status.status,
    'lead_status_id', v_lead.lead_status_id,
    'channels_id', v_lead.channels_id
  ));
end;
$$;
revoke execute on function internal.change_status(text, jsonb, boolean) from public;

-- ---------------------------------------------------------------------------------------
-- Actions
-- ---------------------------------------------------------------------------------------

-- public.get_channels(key_hash, args): {"channels": [Channel]}, every channel the company
-- takes part in, oldest first.
create function public.get_channels(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
begin
  return json_build_object('channels', coalesce((
    select json_agg(internal.channel_json(c) order by c.created_at, c.id)
    from public.channels c
    -- internal.can_access written inline so the role indexes serve the lookup (a null role
    -- only fails to match here, as a where clause treats null as false).
    where v_company in (c.creator, c.partner, c.referring_id, c.receiving_id)
  ), '[]'::json));
end;
$$;
revoke execute on function public.get_channels(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_channels(text, jsonb) to service_role;

-- public.get_leads(key_hash, args): {"leads": [Lead], "next_cursor": text|null}, newest
-- first. args: channel_id (required), limit 1-100 (default 100), cursor (from next_cursor).
-- Keyset paging on (created_at, id), so leads created meanwhile never shift later pages.
-- Errors: 403 Channel not accessible; 400 cursor is invalid.
create function public.get_leads(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_channel public.channels := internal.accessible_channel(v_company, (args ->> 'channel_id')::uuid);
  v_limit integer := coalesce((args ->> 'limit')::integer, 100);
  v_after_created_at timestamptz;
  v_after_id uuid;
  v_leads json[];
  v_times timestamptz[];
  v_ids uuid[];
begin
  select d.created_at, d.id into v_after_created_at, v_after_id from internal.decode_cursor(args ->> 'cursor') d;
  -- One row more than the page tells whether there is a next page.
  select array_agg(p.lead order by p.created_at desc, p.id desc),
    array_agg(p.created_at order by p.created_at desc, p.id desc),
    array_agg(p.id order by p.created_at desc, p.id desc)
  into v_leads, v_times, v_ids
  from (
    select o.lead, o.created_at, o.id from internal.lead_objects o
    where o.channels_id = v_channel.id
      and (v_after_id is null or (o.created_at, o.id) < (v_after_created_at, v_after_id))
    order by o.created_at desc, o.id desc
    limit v_limit + 1
  ) p;
  return internal.page('leads', v_leads, v_times, v_ids, v_limit);
end;
$$;
revoke execute on function public.get_leads(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_leads(text, jsonb) to service_role;

-- public.get_lead_by_id(key_hash, args): {"lead": Lead}. args: lead_id.
-- Errors: 403 Lead not accessible.
create function public.get_lead_by_id(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return json_build_object('lead', internal.lead_json(
    (internal.accessible_lead(internal.company_for_key(key_hash), (args ->> 'lead_id')::uuid, false)).id
  ));
end;
$$;
revoke execute on function public.get_lead_by_id(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_lead_by_id(text, jsonb) to service_role;

-- public.get_lead_by_legacy_id(key_hash, args): {"lead": Lead}. args: legacy_id.
-- Errors: 403 Lead not accessible.
create function public.get_lead_by_legacy_id(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
begin
  return json_build_object('lead', internal.lead_json((internal.accessible_lead(v_company,
    (select l.id from public.leads l where l.legacy_id = (args ->> 'legacy_id')::bigint), false)).id));
end;
$$;
revoke execute on function public.get_lead_by_legacy_id(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_lead_by_legacy_id(text, jsonb) to service_role;

-- public.create_lead(key_hash, args): {"lead": Lead}. args: channel_id, the lead's standard
-- fields, properties [{property_definitions_id, value}]. One transaction: lead, properties,
-- new_lead event and rewards, and the lead.created webhook when the channel has one.
-- Errors: 403 Channel not accessible; 400 Property definition not found on this channel.
create function public.create_lead(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
begin
  return internal.insert_lead(internal.accessible_channel(v_company, (args ->> 'channel_id')::uuid), v_company,
    args, true);
end;
$$;
revoke execute on function public.create_lead(text, jsonb) from public, anon, authenticated;
grant execute on function public.create_lead(text, jsonb) to service_role;

-- public.lead_external(args): the public lead intake, without an API key. args.channel_id is
-- the channel's id or its public uuid; the channel must have no_auth_api. Same lead,
-- event and rewards as create_lead, no webhook.
-- Errors: 404 Channel not found; 403 Public API not enabled for this channel.
create function public.lead_external(args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_channel public.channels;
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
  return internal.insert_lead(v_channel, null, args, false);
end;
$$;
revoke execute on function public.lead_external(jsonb) from public, anon, authenticated;
grant execute on function public.lead_external(jsonb) to service_role;

-- public.update_lead(key_hash, args): {"lead": Lead}. args: lead_id, any standard field
-- (present keys are written, null clears), properties (upserted). No events, rewards or
-- webhooks. Errors: 403 Lead not accessible; 400 Property definition not found on this channel.
create function public.update_lead(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_lead public.leads := internal.accessible_lead(internal.company_for_key(key_hash),
    (args ->> 'lead_id')::uuid, true);
begin
  update public.leads l set
    email = case when args ? 'email' then args ->> 'email' else l.email end,
    first_name = case when args ? 'first_name' then args ->> 'first_name' else l.first_name end,
    last_name = case when args ? 'last_name' then args ->> 'last_name' else l.last_name end,
    phone = case when args ? 'phone' then args ->> 'phone' else l.phone end,
    company_name = case when args ? 'company_name' then args ->> 'company_name' else l.company_name end,
    source = case when args ? 'source' then args ->> 'source' else l.source end,
    employee = case when args ? 'employee' then args ->> 'employee' else l.employee end,
    notes = case when args ? 'notes' then args ->> 'notes' else l.notes end,
    business_id = case when args ? 'business_id' then args ->> 'business_id' else l.business_id end
  where l.id = v_lead.id
  returning * into v_lead;
  perform internal.save_properties(v_lead.channels_id, v_lead.id, args -> 'properties');
  return json_build_object('lead', internal.lead_json(v_lead.id));
end;
$$;
revoke execute on function public.update_lead(text, jsonb) from public, anon, authenticated;
grant execute on function public.update_lead(text, jsonb) to service_role;

-- public.update_status(key_hash, args): moves a lead to the status named args.status on its
-- channel. args: lead_id, status, old_status_id (recorded on the event only).
-- Errors: 403 Lead not accessible; 404 Status "<name>" not found for this channel.
create function public.update_status(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
begin
  return internal.change_status(key_hash, args, false);
end;
$$;
revoke execute on function public.update_status(text, jsonb) from public, anon, authenticated;
grant execute on function public.update_status(text, jsonb) to service_role;

-- public.update_status_id(key_hash, args): as update_status with args.status_id, which must
-- be a status of the lead's channel. Errors: 403 Lead not accessible; 404 Status ID not found.
create function public.update_status_id(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
begin
  return internal.change_status(key_hash, args, true);
end;
$$;
revoke execute on function public.update_status_id(text, jsonb) from public, anon, authenticated;
grant execute on function public.update_status_id(text, jsonb) to service_role;
