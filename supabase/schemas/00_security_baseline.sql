-- Security baseline and the helpers every domain uses: the schemas, pgcrypto, the default
-- privileges, the API error (internal.fail), the API timestamp format (internal.iso_time) and the
-- paging cursor of listings (internal.encode_cursor, internal.decode_cursor, internal.page).
--
-- Functions are never executable by anon or authenticated: every function revokes EXECUTE from
-- PUBLIC where it is defined, and the API functions (schema public, security definer) grant it
-- to service_role alone; tests/security_test.ts fails on any function in public or internal that
-- anon or authenticated may execute.

create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;

-- In schema public, the revokes from anon and authenticated undo the grants Supabase adds there
-- for new objects. They are per schema: a global default privilege would also apply to whatever
-- else the same role creates in the project (the Dashboard's SQL Editor, extensions added later).
alter default privileges in schema public revoke execute on functions from anon, authenticated;
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;

-- Helpers shared by the API functions. This schema is not exposed through PostgREST and only its
-- owner may use it: the API functions are security definer and call in here.
create schema if not exists internal;
revoke all on schema internal from public;

-- internal.fail(status, code, message): raises the API error that PostgREST and the direct
-- adapter both turn into HTTP <status> with {"error": message, "code": code} (docs/errors.md).
-- SQLSTATE 'PT<status>' is PostgREST's convention for choosing the response status.
-- Every control character (C0, DEL, C1) of the message becomes U+FFFD: messages echo client
-- input (a status name) and PostgREST sends them in the HTTP status line.
create function internal.fail(http_status integer, error_code text, error_message text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  perform internal.fail(http_status, error_code, error_message, null);
end;
$$;
revoke execute on function internal.fail(integer, text, text) from public;

-- internal.fail(status, code, message, fields): the same error with more members of the error
-- body (e.g. {"purchase_id": …} of a 409 duplicate), carried as the JSON text of the error's
-- detail, which both adapters read (errors.ts, fromSqlState). Null fields: no detail.
create function internal.fail(http_status integer, error_code text, error_message text, fields json)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT' || http_status::text,
    message = regexp_replace(error_message, E'[\\u0001-\\u001f\\u007f-\\u009f]', chr(65533), 'g'),
    hint = error_code, detail = coalesce(fields::text, '');
end;
$$;
revoke execute on function internal.fail(integer, text, text, json) from public;

-- internal.iso_time(t): the API's timestamp format, UTC with milliseconds
-- ("2025-04-01T00:00:00.000Z"). Every timestamp the API writes goes through it.
-- An inlinable SQL function: the planner replaces each call by its expression, so the views and
-- the purchase path pay nothing for the call. It therefore has no SET clause (a SET clause stops
-- inlining); its body names pg_catalog's functions, and its operators and types are resolved in
-- pg_catalog, which every search_path searches first. STABLE, not IMMUTABLE: to_char of a
-- timestamp is stable, and an immutable SQL function over a stable body is not inlined.
create function internal.iso_time(t timestamptz)
returns text
language sql
stable
as $$
  select pg_catalog.to_char(pg_catalog.timezone('UTC', t), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
revoke execute on function internal.iso_time(timestamptz) from public;

-- internal.encode_cursor(created_at, id): the opaque paging cursor of listings ordered newest
-- first: base64url of "<created_at in µs>|<id>".
create function internal.encode_cursor(created_at timestamptz, id uuid)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  return translate(
    encode(convert_to(to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || id, 'UTF8'),
      'base64'),
    E'+/=\n', '-_');
end;
$$;
revoke execute on function internal.encode_cursor(timestamptz, uuid) from public;

-- internal.decode_cursor(cursor): the position a cursor of internal.encode_cursor stands for.
-- No cursor (null or "") decodes to ('infinity', the largest UUID): every row sorts before it
-- (created_at is a real time), so a listing's first page is "after" it, and a listing needs no
-- optional cursor condition, which a generic plan could not use as an index condition. Anything
-- that is not a cursor this database wrote answers 400 "cursor is invalid" (never a 5xx).
create function internal.decode_cursor(cursor text, out created_at timestamptz, out id uuid)
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_padded text := translate(cursor, '-_', '+/');
  v_text text;
begin
  if coalesce(cursor, '') = '' then
    created_at := 'infinity';
    id := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
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

-- internal.page(name, items, created_ats, ids, page_size): a listing page from up to
-- page_size + 1 rows (newest first): {"<name>": first page_size items, "next_cursor": cursor
-- after the last of them, or null when there was no extra row}.
create function internal.page(name text, items json[], created_ats timestamptz[], ids uuid[], page_size integer)
returns json
language plpgsql
immutable
set search_path = ''
as $$
begin
  return json_build_object(
    name, coalesce(array_to_json(items[1:page_size]), '[]'::json),
    'next_cursor', case when cardinality(items) > page_size
      then internal.encode_cursor(created_ats[page_size], ids[page_size]) end
  );
end;
$$;
revoke execute on function internal.page(text, json[], timestamptz[], uuid[], integer) from public;
