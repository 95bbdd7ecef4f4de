-- Two request checks of issue 17: idempotency (first part) and typed lead properties (last part).

-- A retry is the same request when it is equal after defaults are applied (API.md §6). Set-valued
-- fields are sorted by the server before it fingerprints a request (idempotency.ts). Defaults the
-- server fills in here are applied as the first request's answer shows them: create_payout's
-- `currency` (the channel's), refund_purchase's `amount` (all that was refundable) and the
-- purchases' `date` (now). So a retry that writes out what the first request left to the default,
-- or leaves out what it wrote, replays; the value the default took is the one the first answer
-- shows, whatever has changed since (a refund leaves nothing refundable). create_purchase's
-- default trigger set is not resolved: its answer lists only the rewards above 0.

-- The first request's arguments with its defaults applied, for an action that has such defaults;
-- null for every other action, whose fingerprint alone decides.
alter table public.idempotency_keys add column resolved_args jsonb;

-- internal.idempotency_resolved_args(action, args, response): args with each default this
-- database fills in taken from `response`, the first request's answer; null for an action without
-- such defaults. Amounts compare as numbers (jsonb equality), other values as sent (validated
-- and canonical: the server writes dates and currencies in one form).
create function internal.idempotency_resolved_args(action text, args jsonb, response json)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case action
    when 'create_payout' then
      args || jsonb_build_object('currency', coalesce(args ->> 'currency', response -> 'payout' ->> 'currency'))
    when 'refund_purchase' then
      args || jsonb_build_object('amount', coalesce(args ->> 'amount', response -> 'refund' ->> 'amount')::numeric)
    when 'create_purchase' then
      args || jsonb_build_object('date', coalesce(args ->> 'date', response -> 'purchase' ->> 'date'))
    when 'create_purchase_custom' then
      args || jsonb_build_object('date', coalesce(args ->> 'date', response -> 'purchase' ->> 'date'))
  end
$$;
revoke execute on function internal.idempotency_resolved_args(text, jsonb, json) from public;

-- public.idempotent, as before (see 20261126001200_money_out.sql), with the first request's
-- resolved arguments stored beside its fingerprint: a retry whose fingerprint differs is still the
-- same request when its arguments, resolved against the stored answer, equal them.
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
  v_body json;
begin
  if action is null or action <> all (array['create_purchase', 'create_purchase_custom', 'create_lead',
    'update_lead', 'update_status', 'update_status_id', 'refund_purchase', 'approve_rewards', 'reject_rewards',
    'create_payout', 'mark_payout_paid', 'cancel_payout']) then
    perform internal.fail(400, 'invalid_request', 'Idempotency-Key is not supported for this action');
  end if;

  -- An expired key is free again, whether or not the purge has run yet.
  delete from public.idempotency_keys k
  where k.companies_id = v_company and k.key = idempotency_key
    and k.created_at < now() - internal.idempotency_retention();

  insert into public.idempotency_keys (companies_id, key, action, fingerprint)
  values (v_company, idempotency_key, action, fingerprint)
  on conflict (companies_id, key) do nothing;
  if not found then
    select k.* into v_claim from public.idempotency_keys k
    where k.companies_id = v_company and k.key = idempotency_key;
    if v_claim.fingerprint <> fingerprint and (v_claim.action <> action or v_claim.resolved_args is null
      or v_claim.resolved_args is distinct from internal.idempotency_resolved_args(action, args, v_claim.response)) then
      perform internal.fail(422, 'idempotency_key_reused', 'Idempotency-Key reused with a different request');
    end if;
    return json_build_object('replayed', true, 'status', v_claim.status, 'body', v_claim.response);
  end if;

  execute format('select public.%I($1, $2)', action) into v_body using key_hash, args;
  update public.idempotency_keys k set status = 200, response = v_body,
    resolved_args = internal.idempotency_resolved_args(idempotent.action, args, v_body)
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
