-- Time-ordered ids (UUID version 7 layout: 48 bits of Unix milliseconds, then random bits) for
-- the tables every purchase or lead writes to. A random (version 4) id lands on a random leaf
-- of its primary key index, so once the indexes outgrow shared_buffers every insert touches a
-- page that is not cached, and after every checkpoint writes a full page image to the WAL; a
-- time-ordered id lands on the rightmost leaf, which is always hot. Ids stay canonical UUIDs
-- and unique (74 random bits per millisecond); they only sort by creation time.
do $$
declare
  v_table text;
begin
  foreach v_table in array array['leads', 'purchases', 'events', 'reward_events'] loop
    execute format(
      'alter table public.%I alter column id set default encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) '
        'placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), '
        '52, 1), 53, 1), ''hex'')::uuid',
      v_table);
  end loop;
end;
$$;
