-- Authentication, channel access, reward firing and create_purchase.

-- internal.company_for_key(key_hash): the company owning an active API key.
-- Raises 401 "Invalid API key" for an unknown or revoked key.
create function internal.company_for_key(key_hash text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_company uuid;
begin
  select k.companies_id into v_company
  from public.api_keys k
  where k.key_hash = company_for_key.key_hash and k.revoked_at is null;
  if v_company is null then
    perform internal.fail(401, 'invalid_api_key', 'Invalid API key');
  end if;
  return v_company;
end;
$$;
revoke execute on function internal.company_for_key(text) from public;

-- internal.can_access(channel, company): the access rule of the API. A company may act on
-- a channel when it is its creator, partner, referring or receiving company.
create function internal.can_access(channel public.channels, company uuid)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  -- "in" over a list with a null role (a channel without partner) would be null, not false.
  return coalesce(company = any (array[channel.creator, channel.partner, channel.referring_id, channel.receiving_id]),
    false);
end;
$$;
revoke execute on function internal.can_access(public.channels, uuid) from public;

-- internal.lead_channel(company, lead_id): the channel of a lead the company may act on.
-- Raises 403 "Lead not accessible" when the lead does not exist or its channel is not
-- accessible, so lead ids cannot be probed.
create function internal.lead_channel(company uuid, lead_id uuid)
returns public.channels
language plpgsql
stable
set search_path = ''
as $$
declare
  v_channel public.channels;
begin
  select c.* into v_channel
  from public.leads l
  join public.channels c on c.id = l.channels_id
  where l.id = lead_channel.lead_id;
  if v_channel.id is null or not internal.can_access(v_channel, company) then
    perform internal.fail(403, 'lead_not_accessible', 'Lead not accessible');
  end if;
  return v_channel;
end;
$$;
revoke execute on function internal.lead_channel(uuid, uuid) from public;

-- internal.reward_amount(reward_type, amount, base, minor_units): what a trigger pays, in the
-- currency's minor units, rounded half away from zero (numeric round). fixed: the trigger's
-- amount. percentage: base × amount × 0.01 (a multiplication, exact in numeric, where a
-- division by 100 would round first); a missing base counts as 0.
create function internal.reward_amount(reward_type text, amount numeric, base numeric, minor_units integer)
returns numeric
language plpgsql
immutable
set search_path = ''
as $$
begin
  return round(case reward_type when 'fixed' then amount else coalesce(base, 0) * amount * 0.01 end, minor_units);
end;
$$;
revoke execute on function internal.reward_amount(text, numeric, numeric, integer) from public;

-- internal.fire_rewards(channel, trigger_ids, lead_id, purchase_id, event_id, base):
-- inserts one reward_events row per trigger whose reward is > 0, snapshotting the trigger's
-- type and rate, the base amount, the channel currency and the beneficiary (the channel's
-- referring company). Returns the inserted rows.
create function internal.fire_rewards(
  channel public.channels,
  trigger_ids uuid[],
  lead_id uuid,
  purchase_id uuid,
  event_id uuid,
  base numeric
)
returns setof public.reward_events
language plpgsql
set search_path = ''
as $$
begin
  return query
  insert into public.reward_events (
    reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount, currency,
    reward_type, rate, base_amount, beneficiary_companies_id
  )
  select t.id, channel.id, lead_id, purchase_id, event_id, r.amount, channel.currency, t.reward_type,
    case when t.reward_type = 'percentage' then t.amount end, base, channel.referring_id
  from public.reward_triggers t
  join public.currencies cur on cur.code = channel.currency
  cross join lateral (
    select internal.reward_amount(t.reward_type, t.amount, base, cur.minor_units) as amount
  ) r
  where t.id = any (trigger_ids) and r.amount > 0
  order by t.created_at, t.id
  returning *;
end;
$$;
revoke execute on function internal.fire_rewards(public.channels, uuid[], uuid, uuid, uuid, numeric) from public;

-- internal.purchase_trigger_ids(channel, requested): the purchase triggers to fire.
-- requested null → every Active purchase trigger of the channel; otherwise the requested
-- ids (duplicates ignored), each of which must be an Active purchase trigger of the channel,
-- else 400 "Trigger not found or not active on this channel: <first bad id>".
create function internal.purchase_trigger_ids(channel public.channels, requested uuid[])
returns uuid[]
language plpgsql
stable
set search_path = ''
as $$
declare
  v_bad uuid;
begin
  if requested is null then
    return array(
      select t.id from public.reward_triggers t
      where t.channels_id = channel.id and t.trigger = 'purchase' and t.status = 'Active'
    );
  end if;
  select r.id into v_bad
  from unnest(requested) with ordinality as r (id, n)
  where not exists (
    select 1 from public.reward_triggers t
    where t.id = r.id and t.channels_id = channel.id and t.trigger = 'purchase' and t.status = 'Active'
  )
  order by r.n
  limit 1;
  if v_bad is not null then
    perform internal.fail(400, 'trigger_not_found',
      'Trigger not found or not active on this channel: ' || v_bad::text);
  end if;
  return array(select distinct unnest(requested));
end;
$$;
revoke execute on function internal.purchase_trigger_ids(public.channels, uuid[]) from public;

-- internal.purchase_json(purchase, with_name): the API's purchase object, keys in the
-- documented order (json, not jsonb, keeps it); `name` only when asked for.
create function internal.purchase_json(p public.purchases, with_name boolean)
returns json
language plpgsql
immutable
set search_path = ''
as $$
begin
  if with_name then
    return json_build_object('id', p.id, 'created_at', internal.iso_time(p.created_at), 'leads_id', p.leads_id,
      'products_id', p.products_id, 'purchase_amount', p.purchase_amount, 'date', internal.iso_time(p.date),
      'description', p.description, 'name', p.name);
  end if;
  return json_build_object('id', p.id, 'created_at', internal.iso_time(p.created_at), 'leads_id', p.leads_id,
    'products_id', p.products_id, 'purchase_amount', p.purchase_amount, 'date', internal.iso_time(p.date),
    'description', p.description);
end;
$$;
revoke execute on function internal.purchase_json(public.purchases, boolean) from public;

-- public.authenticate(key_hash): true for an active key, else 401 "Invalid API key".
-- Used only on error paths, so that a bad key wins over a bad body.
create function public.authenticate(key_hash text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform internal.company_for_key(key_hash);
  return true;
end;
$$;
revoke execute on function public.authenticate(text) from public, anon, authenticated;
grant execute on function public.authenticate(text) to service_role;

-- internal.reward_event_json(r, detailed): the API's reward event. Purchase responses use
-- the short form; refunds and listings the detailed one, which adds where the event comes
-- from and what it reverses.
create function internal.reward_event_json(r public.reward_events, detailed boolean)
returns json
language plpgsql
immutable
set search_path = ''
as $$
begin
  if not detailed then
    return json_build_object('id', r.id, 'reward_triggers_id', r.reward_triggers_id, 'amount', r.amount,
      'currency', r.currency, 'reward_type', r.reward_type, 'rate', r.rate, 'base_amount', r.base_amount,
      'beneficiary_company_id', r.beneficiary_companies_id);
  end if;
  return json_build_object('id', r.id, 'reward_triggers_id', r.reward_triggers_id, 'amount', r.amount,
    'currency', r.currency, 'reward_type', r.reward_type, 'rate', r.rate, 'base_amount', r.base_amount,
    'beneficiary_company_id', r.beneficiary_companies_id, 'created_at', internal.iso_time(r.created_at),
    'channels_id', r.channels_id, 'leads_id', r.leads_id, 'purchases_id', r.purchases_id,
    'refunds_id', r.refunds_id, 'reverses_reward_events_id', r.reverses_reward_events_id, 'status', r.status);
end;
$$;
revoke execute on function internal.reward_event_json(public.reward_events, boolean) from public;

-- internal.record_purchase(company, args, with_name): the purchase, its "purchase" event and
-- its reward events, for a company already authenticated. args as create_purchase.
-- Returns {"purchase": {...}, "reward_events": [...]}, "purchase" with "name" when with_name.
-- Errors: 403 Lead not accessible; 403 Product not found or not owned by your company;
-- 400 Trigger not found or not active on this channel: <id>.
create function internal.record_purchase(company uuid, args jsonb, with_name boolean)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_channel public.channels := internal.lead_channel(company, (args ->> 'lead_id')::uuid);
  v_product_id uuid := (args ->> 'product_id')::uuid;
  v_trigger_ids uuid[];
  v_purchase public.purchases;
  v_event_id uuid;
  v_rewards json;
begin
  if v_product_id is not null and not exists (
    select 1 from public.products p where p.id = v_product_id and p.companies_id = company
  ) then
    perform internal.fail(403, 'product_not_owned', 'Product not found or not owned by your company');
  end if;

  v_trigger_ids := internal.purchase_trigger_ids(
    v_channel,
    case when jsonb_typeof(args -> 'trigger_ids') = 'array'
      then array(select jsonb_array_elements_text(args -> 'trigger_ids')::uuid)
    end
  );

  insert into public.purchases (leads_id, channels_id, products_id, purchase_amount, date, description, name,
    companies_id)
  values (
    (args ->> 'lead_id')::uuid,
    v_channel.id,
    v_product_id,
    (args ->> 'purchase_amount')::numeric,
    coalesce((args ->> 'date')::timestamptz, now()),
    coalesce(args ->> 'description', args ->> 'product_description'),
    args ->> 'product_name',
    company
  )
  returning * into v_purchase;

  insert into public.events (category, channels_id, leads_id, purchases_id, companies_id, data)
  values ('purchase', v_channel.id, v_purchase.leads_id, v_purchase.id, company,
    jsonb_build_object('purchase_amount', v_purchase.purchase_amount, 'currency', v_channel.currency))
  returning id into v_event_id;

  select coalesce(json_agg(internal.reward_event_json(r, false) order by r.reward_type, r.reward_triggers_id), '[]')
  into v_rewards
  from internal.fire_rewards(v_channel, v_trigger_ids, v_purchase.leads_id, v_purchase.id, v_event_id,
    v_purchase.purchase_amount) r;

  return json_build_object('purchase', internal.purchase_json(v_purchase, with_name), 'reward_events', v_rewards);
end;
$$;
revoke execute on function internal.record_purchase(uuid, jsonb, boolean) from public;

-- public.create_purchase(key_hash, args): records a purchase against a lead. args (validated
-- by the edge function): lead_id (required), product_id, purchase_amount, date, description,
-- product_name, product_description, trigger_ids. Returns {"purchase": {...}, "reward_events":
-- [...]}, the purchase with "name" when product_name was sent.
-- Errors: 401 Invalid API key, and those of record_purchase.
create function public.create_purchase(key_hash text, args jsonb)
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return internal.record_purchase(internal.company_for_key(key_hash), args, args ? 'product_name');
end;
$$;
revoke execute on function public.create_purchase(text, jsonb) from public, anon, authenticated;
grant execute on function public.create_purchase(text, jsonb) to service_role;
