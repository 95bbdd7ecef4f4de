import "./npm_pins.ts";
import { createApp } from "../_shared/app.ts";

Deno.serve(createApp((name) => Deno.env.get(name)).handler);
