-- Input hardening (issue 8): no malformed cursor gets a 5xx, no error message carries a
-- control character, and the single-lead reads carry the lead's status as an object.

-- ---------------------------------------------------------------------------------------
-- Errors
-- ---------------------------------------------------------------------------------------

-- internal.fail(status, code, message): raises the API error that PostgREST and the direct
-- adapter both turn into HTTP <status> with {"error": message, "code": code}.
-- SQLSTATE 'PT<status>' is PostgREST's convention for choosing the response status.
-- Every control character (C0, DEL, C1) of the message becomes U+FFFD: messages echo client
-- input (a status name) and PostgREST sends them in the HTTP status line.
create or replace function internal.fail(http_status integer, error_code text, error_message text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT' || http_status::text,
    message = regexp_replace(error_message, E'[\\u0001-\\u001f\\u007f-\\u009f]', chr(65533), 'g'),
    hint = error_code;
end;
$$;
revoke execute on function internal.fail(integer, text, text) from public;

-- ---------------------------------------------------------------------------------------
-- Cursors
-- ---------------------------------------------------------------------------------------

-- internal.decode_cursor(cursor): the (created_at, id) of a cursor written by
-- internal.encode_cursor. No cursor (null or "") decodes to nulls: the first page. Only a
-- cursor the encoder could have written is accepted: the decoded text must have its exact
-- shape ("<YYYY-MM-DD>T<HH:MI:SS.US>Z|<lower-case uuid>"), name a real instant, and encode
-- back to the same cursor (which refuses padding, whitespace, "+" and "/", 24:00 and other
-- spellings of the same value). Anything else answers 400 "cursor is invalid", never a 5xx.
create or replace function internal.decode_cursor(cursor text, out created_at timestamptz, out id uuid)
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_padded text := translate(cursor, '-_', '+/');
  v_text text;
begin
  if coalesce(cursor, '') = '' then
    return;
  end if;
  v_padded := v_padded || repeat('=', (4 - length(v_padded) % 4) % 4);
  v_text := convert_from(decode(v_padded, 'base64'), 'UTF8');
  if v_text !~ ('^[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z'
      || '[|][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
    perform internal.fail(400, 'invalid_request', 'cursor is invalid');
  end if;
  created_at := split_part(v_text, '|', 1)::timestamptz;
  id := split_part(v_text, '|', 2)::uuid;
  if internal.encode_cursor(created_at, id) <> cursor then
    perform internal.fail(400, 'invalid_request', 'cursor is invalid');
  end if;
exception
  -- Class 22: bad base64, invalid UTF-8 or NUL, a date or year out of range.
  when data_exception then
    perform internal.fail(400, 'invalid_request', 'cursor is invalid');
end;
$$;
revoke execute on function internal.decode_cursor(text) from public;

-- ---------------------------------------------------------------------------------------
-- Single-lead reads
-- ---------------------------------------------------------------------------------------

-- internal.lead_with_status(lead): a Lead object (internal.lead_json) with one more key
-- after all of its own, "lead_status": {"id", "status"} of the lead's status, or null when
-- the lead has none. The shape the newer platform documents for get_lead_by_id and
-- get_lead_by_legacy_id; every other Lead (listings, writes, webhooks) stays as it is.
create function internal.lead_with_status(lead json)
returns json
language plpgsql
immutable
set search_path = ''
as $$
begin
  return (
    select json_object_agg(e.key, e.value order by e.position nulls last)
    from (
      select j.key, j.value, j.position from json_each(lead) with ordinality j (key, value, position)
      union all
      select 'lead_status', case when lead ->> 'lead_status_id' is not null
        then json_build_object('id', lead -> 'lead_status_id', 'status', lead -> 'status') end, null
    ) e
  );
end;
$$;
revoke execute on function internal.lead_with_status(json) from public;

-- public.get_lead_by_id(key_hash, args): {"lead": Lead with lead_status}. args: lead_id.
-- Errors: 403 Lead not accessible.
create or replace function public.get_lead_by_id(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return json_build_object('lead', internal.lead_with_status(internal.lead_json(
    (internal.accessible_lead(internal.company_for_key(key_hash), (args ->> 'lead_id')::uuid, false)).id
  )));
end;
$$;
revoke execute on function public.get_lead_by_id(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_lead_by_id(text, jsonb) to service_role;

-- public.get_lead_by_legacy_id(key_hash, args): {"lead": Lead with lead_status}. args:
-- legacy_id. Errors: 403 Lead not accessible.
create or replace function public.get_lead_by_legacy_id(key_hash text, args jsonb)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_company uuid := internal.company_for_key(key_hash);
begin
  return json_build_object('lead', internal.lead_with_status(internal.lead_json((internal.accessible_lead(v_company,
    (select l.id from public.leads l where l.legacy_id = (args ->> 'legacy_id')::bigint), false)).id)));
end;
$$;
revoke execute on function public.get_lead_by_legacy_id(text, jsonb) from public, anon, authenticated;
grant execute on function public.get_lead_by_legacy_id(text, jsonb) to service_role;
