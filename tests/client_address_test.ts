// docs/guide.md, "The intake guard": the client address the public intake limit counts, in
// canonical form (pure functions; tests/intake_guard_test.ts proves the same through the handler and the database).
import assert from "node:assert/strict";
import { clientCounter } from "../supabase/functions/_shared/client_address.ts";

// The client counted for a connection from this address, with no proxy (hops 0: only the
// connection's address counts).
const canonicalClient = (entry: string | null) => clientCounter(0, () => {})(null, entry);
/** What every entry that is not an IP address counts as (docs/guide.md, "The intake guard"). */
const UNKNOWN_CLIENT = "unknown";

Deno.test("canonicalClient: every spelling of one address is one client", () => {
  const spellings: [string, string][] = [
    ["::1", "::/64"],
    ["[::1]", "::/64"],
    ["[::1]:8080", "::/64"],
    ["0:0:0:0:0:0:0:1", "::/64"],
    ["0000:0000:0000:0000:0000:0000:0000:0001", "::/64"],
    ["2001:db8:1:2::5", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2::5", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002:0000:0000:0000:0005", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::5]:443", "2001:db8:1:2::/64"],
    ["2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
    ["fe80::1%eth0", "fe80::/64"],
    ["[fe80::1%25eth0]:80", "fe80::/64"],
    ["FE80::1%ETH0", "fe80::/64"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff::/64"],
    ["1.2.3.4", "1.2.3.4"],
    ["1.2.3.4:5678", "1.2.3.4"],
    ["::ffff:1.2.3.4", "1.2.3.4"],
    ["::FFFF:0102:0304", "1.2.3.4"],
    ["[::ffff:1.2.3.4]:80", "1.2.3.4"],
    ["0:0:0:0:0:ffff:102:304", "1.2.3.4"],
    [" 1.2.3.4 ", "1.2.3.4"],
    ["0.0.0.0", "0.0.0.0"],
  ];
  assert.deepEqual(
    spellings.map(([entry]) => [entry, canonicalClient(entry)]),
    spellings,
  );
});

Deno.test("canonicalClient: what is not an IP address is the one unknown client, never its text", () => {
  const garbage = [
    "",
    "   ",
    "unknown",
    "_hidden",
    "example.com",
    "example.com:80",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.4:port",
    "1.2.3.4:123456",
    "[1.2.3.4]x",
    "::1::1",
    "[::1",
    "%eth0",
    "x".repeat(60_000),
    "1.2.3.4" + " ".repeat(200) + "x",
    `${"1".repeat(99)}`,
  ];
  assert.deepEqual(garbage.map((entry) => canonicalClient(entry)), garbage.map(() => UNKNOWN_CLIENT));
  assert.equal(canonicalClient(null), UNKNOWN_CLIENT);
});

Deno.test("clientCounter: the entry the trusted proxies appended, counted from the right; hops 0 ignores the header", () => {
  const warnings: Record<string, unknown>[] = [];
  const counted = (hops: number, forwardedFor: string | null, remote: string | null) =>
    clientCounter(hops, (event) => warnings.push(event))(forwardedFor, remote);
  assert.equal(counted(1, "203.0.113.1, 198.51.100.7", "10.0.0.1"), "198.51.100.7");
  assert.equal(counted(2, "203.0.113.1, 198.51.100.7, 10.9.9.9", "10.0.0.1"), "198.51.100.7");
  assert.equal(
    counted(3, "198.51.100.7, 10.9.9.9", "10.0.0.1"),
    "198.51.100.7",
    "fewer entries than hops: the leftmost",
  );
  assert.equal(counted(1, " , ", "10.0.0.1"), "10.0.0.1", "no entry: the connection's address");
  assert.equal(counted(1, null, "[2001:db8::1]:5000"), "2001:db8::/64");
  assert.equal(counted(0, "203.0.113.1, 198.51.100.7", "10.0.0.1"), "10.0.0.1");
  assert.equal(counted(0, "203.0.113.1", null), UNKNOWN_CLIENT);
  assert.equal(counted(1, "203.0.113.1, 2001:db8:1:2::77", "10.0.0.1"), "2001:db8:1:2::/64");
  assert.equal(counted(1, "203.0.113.1, not-an-address", "10.0.0.1"), UNKNOWN_CLIENT);
  assert.deepEqual(warnings, []);
});

Deno.test("clientCounter: falling back to the unspecified connection address warns once", () => {
  const warnings: Record<string, unknown>[] = [];
  const count = clientCounter(1, (event) => warnings.push(event));
  assert.equal(count("198.51.100.7, 0.0.0.0", "0.0.0.0"), "0.0.0.0", "an entry 0.0.0.0 is no fallback");
  assert.deepEqual(warnings, []);
  assert.equal(count(null, "::1"), "::/64", "loopback shares the unspecified address's /64 but is a caller");
  assert.deepEqual(warnings, []);
  assert.equal(count(null, "0.0.0.0"), "0.0.0.0");
  assert.equal(count(null, "::"), "::/64");
  assert.equal(count(null, "0.0.0.0"), "0.0.0.0");
  const expected = {
    warning: "intake_client_unspecified",
    message: "The public intake limit counts the connection's address 0.0.0.0 (no X-Forwarded-For arrived): " +
      'an unspecified address, not the caller\'s, so every caller shares one limit. See docs/guide.md, "The intake guard".',
  };
  assert.deepEqual(warnings, [expected]);

  const noProxy: Record<string, unknown>[] = [];
  const countNoProxy = clientCounter(0, (event) => noProxy.push(event));
  assert.equal(countNoProxy("198.51.100.7", "::"), "::/64");
  assert.equal(countNoProxy("198.51.100.7", "::"), "::/64");
  assert.deepEqual(noProxy, [{
    warning: "intake_client_unspecified",
    message: "The public intake limit counts the connection's address :: (TRUSTED_PROXY_HOPS=0: X-Forwarded-For is " +
      "ignored): an unspecified address, not the caller's, so every caller shares one limit. See docs/guide.md, " +
      '"The intake guard".',
  }]);
});
