-- internal.lead_objects (20261126000600_lead_actions.sql) writes the same Lead objects, same keys
-- in the same order, from typed rows (row_to_json) instead of json_build_object, which converts
-- every key of every object as an argument, and with the timestamp inline instead of a plpgsql
-- call of internal.iso_time per lead. Every Lead the API answers comes from this view
-- (internal.lead_json, get_leads). What it bought is in docs/operations.md, "Benchmarks".
create type internal.property_definition_ref as (id uuid, name text, type text);
create type internal.property_value_object as (id uuid, value text, property_definitions_id uuid,
  property_definitions internal.property_definition_ref);
create type internal.lead_object as (id uuid, legacy_id bigint, created_at text, email text, first_name text,
  last_name text, phone text, company_name text, source text, employee text, referring_employee text, notes text,
  business_id text, channels_id uuid, lead_status_id uuid, status text, property_values json);

create or replace view internal.lead_objects as
select l.id, l.channels_id, l.created_at,
  row_to_json(row(l.id, l.legacy_id, to_char(l.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    l.email, l.first_name, l.last_name, l.phone, l.company_name, l.source, l.employee, l.employee, l.notes,
    l.business_id, l.channels_id, l.lead_status_id, s.status, coalesce(pv.items, '[]'::json))::internal.lead_object)
    as lead
from public.leads l
left join public.lead_status s on s.id = l.lead_status_id
left join lateral (
  select json_agg(row(v.id, v.value, v.property_definitions_id,
    row(d.id, d.name, d.type)::internal.property_definition_ref)::internal.property_value_object
    order by d."order", d.created_at, d.id) as items
  from public.property_values v
  join public.property_definitions d on d.id = v.property_definitions_id
  where v.leads_id = l.id
) pv on true;
