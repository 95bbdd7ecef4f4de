-- Money webhooks: what a channel's webhook_money URL (03_channels.sql) receives, queued into the
-- outbox of 08_webhooks.sql (internal.queue_money_webhook) by triggers on the tables the money
-- actions write, so every writer of a purchase, refund, reward decision or payout announces it
-- without a line in its own body: purchase.created, refund.created, reward_event.updated
-- (approved, rejected, paid), payout.created, payout.paid, payout.cancelled. The hold period's end
-- is derived at read time, never written, so the sweeper announces it
-- (public.announce_reward_approvals, the table money_webhook_marks). Payloads: docs/webhooks.md.

-- internal.money_webhook_url(channel_id): the channel's webhook_money, or null.
create function internal.money_webhook_url(channel_id uuid)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_url text;
begin
  select c.webhook_money into v_url from public.channels c where c.id = channel_id;
  return v_url;
end;
$$;
revoke execute on function internal.money_webhook_url(uuid) from public;

-- internal.announce_reward_events(ids, statuses): queues reward_event.updated, {"reward_event":
-- the detailed object of get_reward_events}, for each of the reward events whose status
-- (internal.reward_event_status) is one of statuses, on channels with webhook_money, oldest
-- first. Returns how many it queued.
create function internal.announce_reward_events(ids uuid[], statuses text[])
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_event record;
  v_count integer := 0;
begin
  for v_event in
    select c.id as channel_id, c.webhook_money, v.detail
    from internal.reward_event_status v
    join public.channels c on c.id = v.channels_id
    where v.id = any (ids) and v.status = any (statuses) and c.webhook_money is not null
    order by v.created_at, v.id
  loop
    perform internal.queue_money_webhook(v_event.channel_id, v_event.webhook_money, 'reward_event.updated',
      json_build_object('reward_event', v_event.detail));
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
revoke execute on function internal.announce_reward_events(uuid[], text[]) from public;

-- purchase.created: {"purchase", "reward_events"} as create_purchase answers them ("name" when
-- the purchase has one; the reward events in their short form, in the answer's order).
-- A purchase is inserted before its reward events, so its announcement is built at commit: the
-- trigger purchases_money_webhook notes the purchase in money_webhook_purchases, whose deferred
-- trigger queues purchase.created and removes the note. The rewards' status is read as
-- record_purchase reads it, at the same now().
create table public.money_webhook_purchases (
  purchases_id uuid primary key
);
alter table public.money_webhook_purchases enable row level security;
revoke all on public.money_webhook_purchases from anon, authenticated;

create function internal.announce_purchase()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_purchase public.purchases;
  v_channel public.channels;
begin
  delete from public.money_webhook_purchases m where m.purchases_id = new.purchases_id;
  select p.* into v_purchase from public.purchases p where p.id = new.purchases_id;
  select c.* into v_channel from public.channels c where c.id = v_purchase.channels_id;
  if v_channel.webhook_money is null then
    return null;
  end if;
  perform internal.queue_money_webhook(v_channel.id, v_channel.webhook_money, 'purchase.created', json_build_object(
    -- The Purchase object as record_purchase answers it ("name" when the purchase has one,
    -- "external_id" when it has one); tests/money_webhooks_test.ts holds the two equal.
    'purchase', case
      when v_purchase.name is null and v_purchase.external_id is null then json_build_object('id', v_purchase.id,
        'created_at', internal.iso_time(v_purchase.created_at), 'leads_id', v_purchase.leads_id,
        'products_id', v_purchase.products_id, 'purchase_amount', v_purchase.purchase_amount,
        'date', internal.iso_time(v_purchase.date), 'description', v_purchase.description)
      when v_purchase.name is null then json_build_object('id', v_purchase.id,
        'created_at', internal.iso_time(v_purchase.created_at), 'leads_id', v_purchase.leads_id,
        'products_id', v_purchase.products_id, 'purchase_amount', v_purchase.purchase_amount,
        'date', internal.iso_time(v_purchase.date), 'description', v_purchase.description,
        'external_id', v_purchase.external_id)
      when v_purchase.external_id is null then json_build_object('id', v_purchase.id,
        'created_at', internal.iso_time(v_purchase.created_at), 'leads_id', v_purchase.leads_id,
        'products_id', v_purchase.products_id, 'purchase_amount', v_purchase.purchase_amount,
        'date', internal.iso_time(v_purchase.date), 'description', v_purchase.description, 'name', v_purchase.name)
      else json_build_object('id', v_purchase.id,
        'created_at', internal.iso_time(v_purchase.created_at), 'leads_id', v_purchase.leads_id,
        'products_id', v_purchase.products_id, 'purchase_amount', v_purchase.purchase_amount,
        'date', internal.iso_time(v_purchase.date), 'description', v_purchase.description, 'name', v_purchase.name,
        'external_id', v_purchase.external_id)
      end,
    'reward_events', (
      select coalesce(json_agg(row_to_json(row(r.id, r.reward_triggers_id, r.amount, r.currency, r.reward_type, r.rate,
          r.base_amount, r.beneficiary_companies_id,
          internal.reward_status(r.status, r.needs_review, r.created_at, v_channel.hold_days)
        )::internal.reward_event_object) order by r.reward_type, r.reward_triggers_id), '[]'::json)
      from public.reward_events r
      where r.purchases_id = v_purchase.id and r.reverses_reward_events_id is null)));
  return null;
end;
$$;
revoke execute on function internal.announce_purchase() from public;

create constraint trigger money_webhook_purchases_announce
after insert on public.money_webhook_purchases
deferrable initially deferred
for each row
execute function internal.announce_purchase();

-- internal.note_money_purchase(): the BEFORE INSERT trigger purchases_money_webhook: notes a
-- purchase of a channel with webhook_money. Its one argument lists those channels' ids
-- (comma-separated: a uuid's text holds no comma, so a match never spans two); without one it
-- looks the channel up. (The test on the argument is an immutable expression, which plpgsql
-- evaluates without taking a new snapshot; an expression calling the lookup would take one for
-- every purchase.)
create function internal.note_money_purchase()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_nargs > 0 then
    if pg_catalog.strpos(tg_argv[0], new.channels_id::text) > 0 then
      insert into public.money_webhook_purchases (purchases_id) values (new.id);
    end if;
  elsif internal.money_webhook_url(new.channels_id) is not null then
    insert into public.money_webhook_purchases (purchases_id) values (new.id);
  end if;
  return new;
end;
$$;
revoke execute on function internal.note_money_purchase() from public;

-- purchases_money_webhook is not declared here: it exists only while some channel has a
-- webhook_money, with those channels' ids as its argument (up to 50; past that none, and it
-- looks the channel up), so a purchase costs nothing more while no channel has one and a
-- purchase on a channel without one pays no table lookup otherwise (docs/operations.md,
-- Benchmarks, "Money webhooks and create_purchase"). internal.sync_purchase_money_trigger()
-- rebuilds it when a channel gets or loses its webhook_money (the trigger channels_money_webhook
-- below), under a lock that makes concurrent rebuilds run one after the other, each reading the
-- committed set.
create function internal.sync_purchase_money_trigger()
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_count integer;
  v_ids text;
begin
  lock table public.purchases in share row exclusive mode;
  select count(*), string_agg(c.id::text, ',' order by c.id) into v_count, v_ids
  from public.channels c where c.webhook_money is not null;
  drop trigger if exists purchases_money_webhook on public.purchases;
  if v_count > 0 then
    execute format('create trigger purchases_money_webhook before insert on public.purchases for each row '
      'execute function internal.note_money_purchase(%s)', case when v_count <= 50 then quote_literal(v_ids) end);
  end if;
end;
$$;
revoke execute on function internal.sync_purchase_money_trigger() from public;

-- refund.created: {"refund", "reward_events"} as refund_purchase answers them (the reversals'
-- detailed objects). Deferred like purchase.created: the reversals are written after the refund.
create function internal.announce_refund()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_channel public.channels;
begin
  select c.* into v_channel
  from public.purchases p join public.channels c on c.id = p.channels_id
  where p.id = new.purchases_id;
  if v_channel.webhook_money is null then
    return null;
  end if;
  perform internal.queue_money_webhook(v_channel.id, v_channel.webhook_money, 'refund.created', json_build_object(
    'refund', internal.refund_json(new),
    'reward_events', (
      select coalesce(json_agg(v.detail order by v.reward_type, v.reward_triggers_id), '[]'::json)
      from internal.reward_event_status v
      where v.id in (select r.id from public.reward_events r where r.refunds_id = new.id))));
  return null;
end;
$$;
revoke execute on function internal.announce_refund() from public;

create constraint trigger refunds_money_webhook
after insert on public.refunds
deferrable initially deferred
for each row
execute function internal.announce_refund();

-- reward_event.updated for a decision (approve_rewards, reject_rewards): every reward event whose
-- decision changed, and the reversals that follow it, that now reads approved or rejected.
create function internal.announce_reward_decisions()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_ids uuid[];
begin
  select array_agg(n.id) into v_ids
  from new_rows n join old_rows o on o.id = n.id
  where n.status is distinct from o.status;
  if v_ids is not null then
    perform internal.announce_reward_events(v_ids || array(
      select r.id from public.reward_events r where r.reverses_reward_events_id = any (v_ids)
    ), array['approved', 'rejected']);
  end if;
  return null;
end;
$$;
revoke execute on function internal.announce_reward_decisions() from public;

create trigger reward_events_money_webhook
after update on public.reward_events
referencing old table as old_rows new table as new_rows
for each statement
execute function internal.announce_reward_decisions();

-- payout.created, payout.paid, payout.cancelled: {"payout"} as the actions answer it; a paid
-- payout also announces each of its reward events, now paid.
create function internal.announce_payout()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_url text := internal.money_webhook_url(new.channels_id);
begin
  if v_url is null then
    return null;
  end if;
  perform internal.queue_money_webhook(new.channels_id, v_url,
    case when tg_op = 'INSERT' then 'payout.created' else 'payout.' || new.status end,
    json_build_object('payout', internal.payout_json(new)));
  if tg_op = 'UPDATE' and new.status = 'paid' then
    perform internal.announce_reward_events(
      array(select r.id from public.reward_events r where r.payouts_id = new.id), array['paid']);
  end if;
  return null;
end;
$$;
revoke execute on function internal.announce_payout() from public;

create trigger payouts_money_webhook_insert
after insert on public.payouts
for each row
execute function internal.announce_payout();

create trigger payouts_money_webhook_update
after update on public.payouts
for each row
when (old.status is distinct from new.status)
execute function internal.announce_payout();

-- The hold period's end. A reward's approval by time is derived at every read, so nothing is
-- written when it happens: the sweeper announces it. money_webhook_marks holds, per channel with
-- webhook_money, announced_until: every reward event created up to it whose hold had passed when
-- it was reached has been considered. Each sweep moves it to now() − hold_days and announces the
-- reward events created in between that read approved by time (undecided, needing no review,
-- not paid) and the reversals that follow them; one sweep at a time per channel (the mark row
-- is locked, a concurrent sweep skips it), and the mark only moves forward, so each is announced
-- once. Set when the channel gets a webhook_money: approvals before that are not announced.
create table public.money_webhook_marks (
  channels_id uuid primary key references public.channels (id) on delete cascade,
  announced_until timestamptz not null
);
alter table public.money_webhook_marks enable row level security;
revoke all on public.money_webhook_marks from anon, authenticated;

-- internal.channel_money_webhook(): a channel got or lost its webhook_money: its mark starts
-- (approvals from now on are announced; a mark kept from an earlier webhook only moves forward)
-- and purchases_money_webhook is rebuilt.
create function internal.channel_money_webhook()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.webhook_money is not null then
    insert into public.money_webhook_marks (channels_id, announced_until)
    values (new.id, now() - make_interval(days => new.hold_days))
    on conflict (channels_id) do update
      set announced_until = greatest(public.money_webhook_marks.announced_until, excluded.announced_until);
  end if;
  perform internal.sync_purchase_money_trigger();
  return null;
end;
$$;
revoke execute on function internal.channel_money_webhook() from public;

create trigger channels_money_webhook_insert
after insert on public.channels
for each row
when (new.webhook_money is not null)
execute function internal.channel_money_webhook();

create trigger channels_money_webhook_update
after update of webhook_money on public.channels
for each row
when ((old.webhook_money is null) <> (new.webhook_money is null))
execute function internal.channel_money_webhook();

-- public.announce_reward_approvals(): the sweeper's first step (supabase/functions/_shared/
-- webhooks.ts): queues reward_event.updated for the reward events whose hold period has ended
-- since the last sweep (see money_webhook_marks). Returns {"announced": n}.
create function public.announce_reward_approvals()
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_mark record;
  v_ids uuid[];
  v_count integer := 0;
begin
  for v_mark in
    select m.channels_id, m.announced_until, now() - make_interval(days => c.hold_days) as until
    from public.money_webhook_marks m
    join public.channels c on c.id = m.channels_id
    where c.webhook_money is not null and m.announced_until < now() - make_interval(days => c.hold_days)
    order by m.channels_id
    for update of m skip locked
  loop
    select array_agg(r.id) into v_ids
    from public.reward_events r
    where r.channels_id = v_mark.channels_id and r.created_at > v_mark.announced_until
      and r.created_at <= v_mark.until and r.reverses_reward_events_id is null and r.status = 'pending'
      and not r.needs_review;
    if v_ids is not null then
      v_count := v_count + internal.announce_reward_events(v_ids || array(
        select r.id from public.reward_events r where r.reverses_reward_events_id = any (v_ids)
      ), array['approved']);
    end if;
    update public.money_webhook_marks m set announced_until = v_mark.until where m.channels_id = v_mark.channels_id;
  end loop;
  return json_build_object('announced', v_count);
end;
$$;
revoke execute on function public.announce_reward_approvals() from public, anon, authenticated;
grant execute on function public.announce_reward_approvals() to service_role;
