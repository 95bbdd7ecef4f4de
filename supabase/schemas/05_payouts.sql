-- Payouts: the table payouts and the payout actions create_payout, mark_payout_paid,
-- cancel_payout and get_payouts (receiving company only, except the listing). Which reward
-- events a payout gathers follows the reward status rule of 06_purchases_and_rewards.sql
-- (internal.reward_event_status, column bucket).

create table public.payouts (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  channels_id uuid not null references public.channels (id),
  beneficiary_companies_id uuid references public.companies (id),
  currency char(3) not null references public.currencies (code),
  amount numeric not null check (amount > 0),
  reward_events_count integer not null,
  status text not null default 'pending' check (status in ('pending', 'paid', 'cancelled')),
  reference text,
  paid_at timestamptz,
  cancelled_at timestamptz,
  companies_id uuid not null references public.companies (id)
);
create index payouts_channels_id_idx on public.payouts (channels_id, created_at desc, id desc);
create index payouts_beneficiary_companies_id_idx on public.payouts (beneficiary_companies_id);
create index payouts_currency_idx on public.payouts (currency);
create index payouts_companies_id_idx on public.payouts (companies_id);
alter table public.payouts enable row level security;
revoke all on public.payouts from anon, authenticated;

-- internal.payout_json(p): the API's payout object.
create function internal.payout_json(p public.payouts)
returns json
language plpgsql
immutable
set search_path = ''
as $$
begin
  return json_build_object('id', p.id, 'channels_id', p.channels_id, 'beneficiary_company_id',
    p.beneficiary_companies_id, 'currency', p.currency, 'amount', p.amount, 'reward_events_count',
    p.reward_events_count, 'status', p.status, 'reference', p.reference, 'created_at', internal.iso_time(p.created_at),
    'paid_at', internal.iso_time(p.paid_at));
end;
$$;
revoke execute on function internal.payout_json(public.payouts) from public;

-- internal.pending_payout(company, payout_id): the payout, locked, for the receiving company of
-- its channel, while it is still pending. 403 Payout not accessible for a payout that does not
-- exist or whose channel the company is no party of; 403 Only the receiving company… for
-- another party; 409 Payout already paid / Payout cancelled once it is no longer pending.
create function internal.pending_payout(company uuid, payout_id uuid)
returns public.payouts
language plpgsql
set search_path = ''
as $$
declare
  v_payout public.payouts;
  v_channel public.channels;
begin
  select p.* into v_payout from public.payouts p where p.id = payout_id;
  select c.* into v_channel from internal.accessible_channels(company) c where c.id = v_payout.channels_id;
  if v_channel.id is null then
    perform internal.fail(403, 'payout_not_accessible', 'Payout not accessible');
  end if;
  perform internal.require_receiving(v_channel, company);
  select p.* into v_payout from public.payouts p where p.id = payout_id for update;
  if v_payout.status = 'paid' then
    perform internal.fail(409, 'payout_already_paid', 'Payout already paid');
  elsif v_payout.status = 'cancelled' then
    perform internal.fail(409, 'payout_cancelled', 'Payout cancelled');
  end if;
  return v_payout;
end;
$$;
revoke execute on function internal.pending_payout(uuid, uuid) from public;

-- public.create_payout(key_hash, args): args channel_id, currency (default the channel's).
-- Receiving company only. Gathers the approved reward events of the channel, currency and
-- current beneficiary (the referring company) that are in no payout, positive and negative
-- (clawbacks), into one pending payout of their sum. The channel row is locked first, so
-- concurrent payouts of a channel run one after the other and never share a reward event.
-- Errors: 403 Channel not accessible / Only the receiving company…; 400 Nothing to pay (sum ≤ 0,
-- nothing written). Returns {"payout": {...}}.
-- It gathers the locked candidates whose bucket is 'approved', except a reversal whose original
-- is neither gathered in this payout nor in a paid one. The view already leaves a reversal whose original is in a
-- pending payout; the second condition also covers an original that was not a locked candidate
-- but has left its payout since (a concurrent cancel_payout): it may be rejected next, so its
-- reversal waits for the next payout, where both are candidates.
create function public.create_payout(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
  v_channel public.channels := internal.accessible_channel(v_company, (args ->> 'channel_id')::uuid);
  v_currency char(3);
  v_payout public.payouts;
  v_candidates uuid[];
  v_ids uuid[];
  v_amount numeric;
begin
  perform internal.require_receiving(v_channel, v_company);
  perform 1 from public.channels c where c.id = v_channel.id for update;
  v_currency := coalesce(args ->> 'currency', v_channel.currency);

  select array_agg(r.id) into v_candidates
  from (
    select r.id from public.reward_events r
    where r.channels_id = v_channel.id and r.currency = v_currency and r.payouts_id is null
      and r.beneficiary_companies_id is not distinct from v_channel.referring_id
    for update
  ) r;
  with approved as (
    select v.id, v.amount, v.reverses_reward_events_id
    from unnest(v_candidates) c (id)
    join internal.reward_event_status v on v.id = c.id
    where v.bucket = 'approved'
  )
  select array_agg(a.id), sum(a.amount) into v_ids, v_amount
  from approved a
  where a.reverses_reward_events_id is null
    or a.reverses_reward_events_id in (select o.id from approved o)
    or exists (
      select 1 from public.reward_events o join public.payouts p on p.id = o.payouts_id
      where o.id = a.reverses_reward_events_id and p.status = 'paid'
    );
  if coalesce(v_amount, 0) <= 0 then
    perform internal.fail(400, 'nothing_to_pay', 'Nothing to pay');
  end if;

  insert into public.payouts (channels_id, beneficiary_companies_id, currency, amount, reward_events_count,
    companies_id)
  values (v_channel.id, v_channel.referring_id, v_currency, v_amount, cardinality(v_ids), v_company)
  returning * into v_payout;
  update public.reward_events r set payouts_id = v_payout.id where r.id = any (v_ids);
  return json_build_object('payout', internal.payout_json(v_payout));
end;
$$;
revoke execute on function public.create_payout(text, jsonb) from public, anon, authenticated;
grant execute on function public.create_payout(text, jsonb) to service_role;

-- public.mark_payout_paid(key_hash, args): args payout_id, reference (the bank's or payment
-- provider's id). pending → paid with paid_at now; its reward events read 'paid'.
-- Errors: those of internal.pending_payout.
create function public.mark_payout_paid(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_payout public.payouts := internal.pending_payout(internal.company_for_key(key_hash),
    (args ->> 'payout_id')::uuid);
begin
  update public.payouts p set status = 'paid', paid_at = now(), reference = args ->> 'reference'
  where p.id = v_payout.id
  returning * into v_payout;
  return json_build_object('payout', internal.payout_json(v_payout));
end;
$$;
revoke execute on function public.mark_payout_paid(text, jsonb) from public, anon, authenticated;
grant execute on function public.mark_payout_paid(text, jsonb) to service_role;

-- public.cancel_payout(key_hash, args): args payout_id. pending → cancelled; its reward
-- events leave it and read 'approved' again. Errors: those of internal.pending_payout.
create function public.cancel_payout(key_hash text, args jsonb)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_payout public.payouts := internal.pending_payout(internal.company_for_key(key_hash),
    (args ->> 'payout_id')::uuid);
begin
  update public.reward_events r set payouts_id = null where r.payouts_id = v_payout.id;
  update public.payouts p set status = 'cancelled', cancelled_at = now()
  where p.id = v_payout.id
  returning * into v_payout;
  return json_build_object('payout', internal.payout_json(v_payout));
end;
$$;
revoke execute on function public.cancel_payout(text, jsonb) from public, anon, authenticated;
grant execute on function public.cancel_payout(text, jsonb) to service_role;

-- public.get_payouts(key_hash, args): {"payouts": [...], "next_cursor"}, newest first, paged
-- like get_leads (and planned like it). Any party of the channel. Errors: 403 Channel not
-- accessible; 400 cursor is invalid.
create function public.get_payouts(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
set jit = off
as $$
declare
  v_channel public.channels := internal.accessible_channel(internal.company_for_key(key_hash),
    (args ->> 'channel_id')::uuid);
  v_limit integer := coalesce((args ->> 'limit')::integer, 100);
  v_after_created_at timestamptz;
  v_after_id uuid;
  v_items json[];
  v_times timestamptz[];
  v_ids uuid[];
begin
  select d.created_at, d.id into v_after_created_at, v_after_id from internal.decode_cursor(args ->> 'cursor') d;
  select array_agg(internal.payout_json(p) order by p.created_at desc, p.id desc),
    array_agg(p.created_at order by p.created_at desc, p.id desc),
    array_agg(p.id order by p.created_at desc, p.id desc)
  into v_items, v_times, v_ids
  from (
    select p.* from public.payouts p
    where p.channels_id = v_channel.id and (p.created_at, p.id) < (v_after_created_at, v_after_id)
    order by p.created_at desc, p.id desc
    limit v_limit + 1
  ) p;
  return internal.page('payouts', v_items, v_times, v_ids, v_limit);
end;
$$;
revoke execute on function public.get_payouts(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_payouts(text, jsonb) to service_role;
