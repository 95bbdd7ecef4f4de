-- Two request checks of issue 17: idempotency (first part) and typed lead properties (last part).

-- A retry is the same request when it is equal after defaults are applied (API.md §6). Set-valued
-- fields are sorted by the server before it fingerprints a request (idempotency.ts); a default the
-- server knows only here, create_payout's `currency` (the channel's currency), is applied below, so
-- a retry that writes it out, or leaves out what the first request wrote, replays.

-- The request's arguments with the defaults applied, for an action that has such a default;
-- null for every other action, whose fingerprint alone decides.
alter table public.idempotency_keys add column resolved_args jsonb;

-- internal.idempotency_resolved_args(action, args): args with the defaults this database knows
-- applied (create_payout: `currency` defaults to the channel's currency), or null when the action
-- has none. Arrays need no sorting here: the server sends set-valued fields sorted.
create function internal.idempotency_resolved_args(action text, args jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select case action
    when 'create_payout' then args || jsonb_build_object('currency', coalesce(args ->> 'currency', (
      select c.currency from public.channels c
      where c.id = (args ->> 'channel_id')::uuid
    )))
  end
$$;
revoke execute on function internal.idempotency_resolved_args(text, jsonb) from public;

-- public.idempotent, as before (see 20261126001200_money_out.sql), with the key's resolved
-- arguments stored beside its fingerprint: a retry whose fingerprint differs is still the same
-- request when its resolved arguments equal the stored ones (jsonb equality: key order and
-- number spelling aside).
create or replace function public.idempotent(
  key_hash text,
  action text,
  args jsonb,
  idempotency_key text,
  fingerprint text
)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_claim public.idempotency_keys;
  v_resolved jsonb;
  v_body json;
begin
  if action is null or action <> all (array['create_purchase', 'create_purchase_custom', 'create_lead',
    'update_lead', 'update_status', 'update_status_id', 'refund_purchase', 'approve_rewards', 'reject_rewards',
    'create_payout', 'mark_payout_paid', 'cancel_payout']) then
    perform internal.fail(400, 'invalid_request', 'Idempotency-Key is not supported for this action');
  end if;
  v_resolved := internal.idempotency_resolved_args(action, args);

  -- An expired key is free again, whether or not the purge has run yet.
  delete from public.idempotency_keys k
  where k.companies_id = v_company and k.key = idempotency_key
    and k.created_at < now() - internal.idempotency_retention();

  insert into public.idempotency_keys (companies_id, key, action, fingerprint, resolved_args)
  values (v_company, idempotency_key, action, fingerprint, v_resolved)
  on conflict (companies_id, key) do nothing;
  if not found then
    select k.* into v_claim from public.idempotency_keys k
    where k.companies_id = v_company and k.key = idempotency_key;
    if v_claim.fingerprint <> fingerprint and (v_claim.action <> action or v_resolved is null
      or v_claim.resolved_args is distinct from v_resolved) then
      perform internal.fail(422, 'idempotency_key_reused', 'Idempotency-Key reused with a different request');
    end if;
    return json_build_object('replayed', true, 'status', v_claim.status, 'body', v_claim.response);
  end if;

  execute format('select public.%I($1, $2)', action) into v_body using key_hash, args;
  update public.idempotency_keys k set status = 200, response = v_body
  where k.companies_id = v_company and k.key = idempotency_key;
  return json_build_object('replayed', false, 'status', 200, 'body', v_body);
end;
$$;
revoke execute on function public.idempotent(text, text, jsonb, text, text) from public, anon, authenticated;
grant execute on function public.idempotent(text, text, jsonb, text, text) to service_role;

-- internal.save_properties, as before (see 20261126000600_lead_actions.sql), and a value of a
-- property of type number must be a number: a JSON number (stored as its JSON text) or a string
-- in JSON number form (`25000`, `-1.5`, `2e3`), else 400 "Property value must be a number: <id>"
-- for the first such definition (entries come sorted by definition). Other types take any text.
create or replace function internal.save_properties(channel_id uuid, lead_id uuid, properties jsonb)
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
  select p ->> 'property_definitions_id' into v_bad
  from jsonb_array_elements(properties) with ordinality as e (p, n)
  join public.property_definitions d on d.id = (p ->> 'property_definitions_id')::uuid
  where d.type = 'number' and (p ->> 'value') !~ '^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$'
  order by n
  limit 1;
  if v_bad is not null then
    perform internal.fail(400, 'invalid_property_value', 'Property value must be a number: ' || v_bad);
  end if;
  insert into public.property_values (leads_id, property_definitions_id, value)
  select save_properties.lead_id, (p ->> 'property_definitions_id')::uuid, p ->> 'value'
  from jsonb_array_elements(properties) p
  on conflict (leads_id, property_definitions_id) do update set value = excluded.value;
end;
$$;
revoke execute on function internal.save_properties(uuid, uuid, jsonb) from public;
