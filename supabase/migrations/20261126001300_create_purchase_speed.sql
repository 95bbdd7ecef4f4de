-- create_purchase at the speed Postgres allows (issue 10). What the profile showed, and what
-- this changes (before/after numbers in docs/operations.md, "Performance"):
-- 1. Every purchase inserted into 22 indexes; 11 of them served no query, only the (never
--    used) deletion of a parent row, and several were on columns every purchase of a channel
--    shares (currency, beneficiary, trigger, lead), so concurrent purchases fought over the
--    same index pages. They go; the indexes listings, refunds, payouts and the once-per-lead
--    rule use stay. Deleting a company, currency, trigger, event, product or lead (which
--    neither the API nor the admin CLI does) now scans the referencing table.
-- 2. The foreign key from reward_events.currency to currencies share-locked the currency row
--    that every purchase of every channel references. It becomes (channels_id, currency) →
--    channels (id, currency): one check on the channel row, which the purchase already holds,
--    and a stronger guarantee (a reward is in its channel's currency).
-- 3. Purchases, events and rewards each checked their lead and their channel with two foreign
--    keys. One composite key (leads_id, channels_id) → leads (id, channels_id) checks both at
--    once, and guarantees more: the row's channel is its lead's channel.
-- (20261126001200_money_out.sql also writes record_purchase's purchase, event and rewards in one
-- statement of data-modifying CTEs instead of a chain of plpgsql calls and statements.)

drop index public.reward_events_currency_idx;
drop index public.reward_events_beneficiary_companies_id_idx;
drop index public.reward_events_reward_triggers_id_idx;
drop index public.reward_events_leads_id_idx;
drop index public.reward_events_events_id_idx;
drop index public.reward_events_refunds_id_idx;
drop index public.reward_events_reverses_reward_events_id_idx;
drop index public.events_companies_id_idx;
drop index public.events_channels_id_idx;
drop index public.purchases_products_id_idx;
drop index public.purchases_companies_id_idx;
-- Refund reversals are few: these serve the lookups from a refund or an original reward.
create index reward_events_refunds_id_idx on public.reward_events (refunds_id) where refunds_id is not null;
create index reward_events_reverses_idx on public.reward_events (reverses_reward_events_id)
  where reverses_reward_events_id is not null;

alter table public.channels add constraint channels_id_currency_key unique (id, currency);
alter table public.reward_events
  drop constraint reward_events_currency_fkey,
  drop constraint reward_events_channels_id_fkey,
  add constraint reward_events_channel_currency_fkey foreign key (channels_id, currency)
    references public.channels (id, currency);

alter table public.leads add constraint leads_id_channels_id_key unique (id, channels_id);
alter table public.purchases
  drop constraint purchases_leads_id_fkey,
  drop constraint purchases_channels_id_fkey,
  add constraint purchases_lead_channel_fkey foreign key (leads_id, channels_id)
    references public.leads (id, channels_id);
-- Every event and every reward is about a lead (purchase, new_lead, status_change, refund), so
-- the lead is required and the composite key covers the channel as well.
alter table public.events
  alter column leads_id set not null,
  drop constraint events_leads_id_fkey,
  drop constraint events_channels_id_fkey,
  add constraint events_lead_channel_fkey foreign key (leads_id, channels_id)
    references public.leads (id, channels_id);
alter table public.reward_events
  alter column leads_id set not null,
  drop constraint reward_events_leads_id_fkey,
  add constraint reward_events_lead_channel_fkey foreign key (leads_id, channels_id)
    references public.leads (id, channels_id);
