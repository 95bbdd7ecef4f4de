-- A reversal waits while its original sits in a pending payout (issue 17, item 1; API.md §7).
-- Before: a reversal whose original was in a payout, pending or paid, read 'approved' and
-- create_payout gathered it at once. With the original in a pending payout PA, a second payout
-- PB took the reversal; PA cancelled, the original rejected and PB paid, the partner had been
-- docked for a reward that was never paid (underpaid by its amount), and the paid reversal sat
-- beside a rejected original.
-- Now a reversal follows its original while the original is unpaid (same status; rejected with
-- it); once the original is paid it is 'approved' at once and nets against the next payout (a
-- clawback). While the original is in a pending payout the reversal reads 'approved' (its
-- original's status, as before) but is not payable: balances count it under in_payout, beside
-- the payout it waits on, and create_payout leaves it. That payout paid, it is a clawback;
-- cancelled, it follows its original again (gathered together with it, or rejected with it).
-- Invariant, per channel, beneficiary and currency: paid payouts + pending + review + approved
-- + in_payout = the sum of every reward event not rejected (tests/money_invariant_test.ts).

-- internal.reward_event_status, as in 20261126001700_reward_status_view.sql (status and detail
-- unchanged: a waiting reversal reads its original's 'approved'), plus the column bucket: where
-- get_balances counts the reward event and whether create_payout may gather it. 'in_payout' for
-- a reward in a pending payout and for a reversal whose original is in one; 'approved' for a
-- reversal whose original is paid; otherwise the status. bucket is written as an expression of
-- its own rather than derived from status: the view is flattened into each query, so an
-- expression reading status would evaluate status's subqueries again (a listing page read
-- through such a bucket-first view cost 7.76M instructions instead of 7.50M). Each reader selects
-- one of the two. The new column comes last, as create or replace view requires; the privileges
-- (none but the owner's) stay.
create or replace view internal.reward_event_status with (security_invoker = true) as
select r.id, r.created_at, r.channels_id, r.leads_id, r.purchases_id, r.reward_triggers_id, r.reward_type, r.amount,
  r.currency, r.beneficiary_companies_id, r.payouts_id, r.reverses_reward_events_id, r.status_now as status,
  row_to_json(row(r.id, r.reward_triggers_id, r.amount, r.currency, r.reward_type, r.rate, r.base_amount,
    r.beneficiary_companies_id, to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    r.channels_id, r.leads_id, r.purchases_id, r.refunds_id, r.reverses_reward_events_id, r.status_now,
    r.rejection_reason, r.payouts_id)::internal.reward_event_detail) as detail,
  r.bucket
from (
  select r.*, case
    when r.payouts_id is not null then
      case when (select p.status from public.payouts p where p.id = r.payouts_id) = 'paid' then 'paid' else 'approved' end
    when r.reverses_reward_events_id is not null then (
      select case
        when o.payouts_id is not null then 'approved'
        when o.status <> 'pending' then o.status::text
        when o.needs_review then 'review'
        when o.created_at + make_interval(days => c.hold_days) <= now() then 'approved'
        else 'pending'
      end
      from public.reward_events o where o.id = r.reverses_reward_events_id)
    when r.status <> 'pending' then r.status::text
    when r.needs_review then 'review'
    when r.created_at + make_interval(days => c.hold_days) <= now() then 'approved'
    else 'pending'
  end as status_now,
  case
    when r.payouts_id is not null then
      case when (select p.status from public.payouts p where p.id = r.payouts_id) = 'paid' then 'paid'
        else 'in_payout' end
    when r.reverses_reward_events_id is not null then (
      select case
        when o.payouts_id is not null then
          case when (select p.status from public.payouts p where p.id = o.payouts_id) = 'paid' then 'approved'
            else 'in_payout' end
        when o.status <> 'pending' then o.status::text
        when o.needs_review then 'review'
        when o.created_at + make_interval(days => c.hold_days) <= now() then 'approved'
        else 'pending'
      end
      from public.reward_events o where o.id = r.reverses_reward_events_id)
    when r.status <> 'pending' then r.status::text
    when r.needs_review then 'review'
    when r.created_at + make_interval(days => c.hold_days) <= now() then 'approved'
    else 'pending'
  end as bucket
  from public.reward_events r
  join public.channels c on c.id = r.channels_id
) r;

-- public.get_balances, as in 20261126001700_reward_status_view.sql, summing by the view's
-- bucket: a reversal waiting on its original's pending payout counts under in_payout. The sums
-- are grouped by currency and bucket first, so each reward event's bucket is computed once: with
-- one filtered sum per bucket straight over the view, get_balances of the bench's 20k reward
-- events cost 333M instructions, grouped first 143M (553M before this migration; callgrind,
-- docs/operations.md, "Benchmarks").
create or replace function public.get_balances(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_channel public.channels := internal.accessible_channel(internal.company_for_key(key_hash),
    (args ->> 'channel_id')::uuid);
begin
  return json_build_object('balances', coalesce((
    select json_agg(json_build_object('currency', t.currency, 'pending', t.pending, 'review', t.review,
      'approved', t.approved, 'in_payout', t.in_payout, 'paid', t.paid, 'rejected', t.rejected) order by t.currency)
    from (
      select g.currency,
        coalesce(sum(g.amount) filter (where g.bucket = 'pending'), 0) as pending,
        coalesce(sum(g.amount) filter (where g.bucket = 'review'), 0) as review,
        coalesce(sum(g.amount) filter (where g.bucket = 'approved'), 0) as approved,
        coalesce(sum(g.amount) filter (where g.bucket = 'in_payout'), 0) as in_payout,
        coalesce(sum(g.amount) filter (where g.bucket = 'paid'), 0) as paid,
        coalesce(sum(g.amount) filter (where g.bucket = 'rejected'), 0) as rejected
      from (
        select v.currency, v.bucket, sum(v.amount) as amount
        from internal.reward_event_status v
        where v.channels_id = v_channel.id
        group by v.currency, v.bucket
      ) g
      group by g.currency
    ) t
  ), '[]'::json));
end;
$$;

-- public.create_payout, as in 20261126001700_reward_status_view.sql, gathering the locked
-- candidates whose bucket is 'approved', except a reversal whose original is neither gathered
-- in this payout nor in a paid one. The view already leaves a reversal whose original is in a
-- pending payout; the second condition also covers an original that was not a locked candidate
-- but has left its payout since (a concurrent cancel_payout): it may be rejected next, so its
-- reversal waits for the next payout, where both are candidates.
create or replace function public.create_payout(key_hash text, args jsonb)
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
