// Deploying uploads deno.json (the import map) but not deno.lock, and the bundler builds the
// graph from index.ts. An import map entry that no module imports pins nothing there: a package's
// dependency range (standardwebhooks asks for fast-sha256 ^1.3.0, @supabase/storage-js for
// iceberg-js ^0.8.1) resolves to the newest match unless the graph already requires a version
// that satisfies it. Importing every transitive package here puts it in the graph at the version
// the import map names, which is deno.lock's (tests/import_map_test.ts). Each one is loaded by
// the package that depends on it anyway (supabase-js, standardwebhooks).
import "@stablelib/base64";
import "@supabase/auth-js";
import "@supabase/functions-js";
import "@supabase/phoenix";
import "@supabase/postgrest-js";
import "@supabase/realtime-js";
import "@supabase/storage-js";
import "fast-sha256";
import "iceberg-js";
import "tslib";
