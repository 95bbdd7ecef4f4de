-- Refunds: the table refunds and public.refund_purchase, which records a refund and writes
-- the reversals of the purchase's rewards into reward_events.

create table public.refunds (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  purchases_id uuid not null references public.purchases (id),
  amount numeric not null check (amount >= 0),
  reason text,
  companies_id uuid not null references public.companies (id),
  external_id text
);
create index refunds_purchases_id_idx on public.refunds (purchases_id);
-- external_id (the payment provider's refund id) is unique per purchase; refund_purchase checks
-- it under the purchase's row lock, and this index makes it a guarantee.
create unique index refunds_external_id_key on public.refunds (purchases_id, external_id)
  where external_id is not null;
create index refunds_companies_id_idx on public.refunds (companies_id);
alter table public.refunds enable row level security;
revoke all on public.refunds from anon, authenticated;

-- internal.refund_json(refund): the Refund object, as refund_purchase answers it and refund.created
-- carries it: "external_id" when the refund has one. Inlinable (see internal.reward_status).
create function internal.refund_json(refund public.refunds)
returns json
language sql
stable
as $$
  select case when refund.external_id is null
    then pg_catalog.json_build_object('id', refund.id, 'created_at', internal.iso_time(refund.created_at),
      'purchases_id', refund.purchases_id, 'amount', refund.amount, 'reason', refund.reason)
    else pg_catalog.json_build_object('id', refund.id, 'created_at', internal.iso_time(refund.created_at),
      'purchases_id', refund.purchases_id, 'amount', refund.amount, 'reason', refund.reason,
      'external_id', refund.external_id)
  end
$$;
revoke execute on function internal.refund_json(public.refunds) from public;

-- A reversal names the refund that wrote it.
alter table public.reward_events add constraint reward_events_refunds_id_fkey foreign key (refunds_id)
  references public.refunds (id);

-- internal.record_refund(company, args): records a refund of a purchase for a company already
-- authenticated and reverses its rewards; refund_purchase and the Stripe refunds (12_stripe.sql)
-- call it. args: purchase_id (required), amount (default: all that is not yet refunded),
-- reason, external_id (the provider's refund id, unique per purchase). Percentage rewards are
-- reversed in proportion to the refunded amount, computed on the cumulative refund (internal.reward_amount of the refunded total so far minus that of what
-- earlier refunds reversed), so the reversals of a full refund add up to exactly the original
-- reward; fixed rewards are reversed when the purchase becomes fully refunded. The purchase row
-- is locked, so concurrent refunds never exceed its amount. The purchase-writer rule applies
-- (internal.may_record_purchases). Returns {"refund": {...}, "reward_events": [...]}, the
-- reversals read from internal.reward_event_status after they are written.
-- Errors: 403 Purchase not accessible; 403 Only the receiving company can record purchases on
-- this channel; 409 Refund already recorded: <external_id> (with refund_id), checked under the
-- purchase's lock, so concurrent repeats never both write; 400 Refund exceeds refundable amount.
create function internal.record_refund(company uuid, args jsonb)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_company uuid := company;
  v_purchase public.purchases;
  v_channel public.channels;
  v_refunded numeric;
  v_refund_count integer;
  v_total numeric;
  v_amount numeric;
  v_refund public.refunds;
  v_event_id uuid;
  v_reversal_ids uuid[];
  v_rewards json;
begin
  select p.* into v_purchase from public.purchases p where p.id = (args ->> 'purchase_id')::uuid;
  select c.* into v_channel from internal.accessible_channels(v_company) c where c.id = v_purchase.channels_id;
  if v_channel.id is null then
    perform internal.fail(403, 'purchase_not_accessible', 'Purchase not accessible');
  end if;
  if not internal.may_record_purchases(v_channel.purchase_writers, v_channel.receiving_id, v_company) then
    perform internal.fail(403, 'purchase_not_permitted', 'Only the receiving company can record purchases on this channel');
  end if;
  perform 1 from public.purchases p where p.id = v_purchase.id for update;
  select r.id into v_refund from public.refunds r
  where r.purchases_id = v_purchase.id and r.external_id = args ->> 'external_id';
  if v_refund.id is not null then
    perform internal.fail(409, 'duplicate_external_id', 'Refund already recorded: ' || (args ->> 'external_id'),
      json_build_object('refund_id', v_refund.id));
  end if;

  select coalesce(sum(r.amount), 0), count(*) into v_refunded, v_refund_count
  from public.refunds r where r.purchases_id = v_purchase.id;
  v_total := coalesce(v_purchase.purchase_amount, 0);
  v_amount := coalesce((args ->> 'amount')::numeric, v_total - v_refunded);
  if v_amount > v_total - v_refunded or (v_refund_count > 0 and v_refunded = v_total) then
    perform internal.fail(400, 'refund_exceeds_refundable', 'Refund exceeds refundable amount');
  end if;

  insert into public.refunds (purchases_id, amount, reason, companies_id, external_id)
  values (v_purchase.id, v_amount, args ->> 'reason', v_company, args ->> 'external_id')
  returning * into v_refund;

  insert into public.events (category, channels_id, leads_id, purchases_id, companies_id, data)
  values ('refund', v_channel.id, v_purchase.leads_id, v_purchase.id, v_company,
    jsonb_build_object('refunds_id', v_refund.id, 'amount', v_amount, 'currency', v_channel.currency))
  returning id into v_event_id;

  with reversal as (
    select o.*, case o.reward_type
        when 'percentage' then internal.reward_amount('percentage', o.rate, v_refunded + v_amount, cur.minor_units)
          - internal.reward_amount('percentage', o.rate, v_refunded, cur.minor_units)
        else o.amount
      end as reversed
    from public.reward_events o
    join public.currencies cur on cur.code = o.currency
    where o.purchases_id = v_purchase.id and o.reverses_reward_events_id is null and o.amount > 0
      and (o.reward_type = 'percentage' or v_refunded + v_amount = v_total)
  ), inserted as (
    insert into public.reward_events (reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount,
      currency, reward_type, rate, base_amount, beneficiary_companies_id, refunds_id, reverses_reward_events_id)
    select o.reward_triggers_id, o.channels_id, o.leads_id, o.purchases_id, v_event_id, -o.reversed, o.currency,
      o.reward_type, o.rate, v_amount, o.beneficiary_companies_id, v_refund.id, o.id
    from reversal o
    where o.reversed <> 0
    returning id
  )
  select array_agg(i.id) into v_reversal_ids from inserted i;

  select coalesce(json_agg(v.detail order by v.reward_type, v.reward_triggers_id), '[]')
  into v_rewards
  from internal.reward_event_status v
  where v.id = any (v_reversal_ids);

  return json_build_object(
    'refund', internal.refund_json(v_refund),
    'reward_events', v_rewards
  );
end;
$$;
revoke execute on function internal.record_refund(uuid, jsonb) from public;

-- public.refund_purchase(key_hash, args): internal.record_refund for the key's company.
create function public.refund_purchase(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
begin
  return internal.record_refund(internal.company_for_key(key_hash), args);
end;
$$;
revoke execute on function public.refund_purchase(text, jsonb) from public, anon, authenticated;
grant execute on function public.refund_purchase(text, jsonb) to service_role;
