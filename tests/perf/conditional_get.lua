-- conditional_get.lua: wrk script for a GET that revalidates a cached representation: every
-- request carries `If-None-Match` with the tag the server gave (a browser, CDN or mobile
-- HTTP cache after max-age). Storefront answers 304 with no body; wrk counts 3xx as success.
--
--   WRK_IF_NONE_MATCH  the ETag to send (benchkit reads it from the server before each run)
--   WRK_LABEL          free text copied into the summary line
--
--   WRK_IF_NONE_MATCH='"9f…"' wrk -t2 -c16 -d5s -s conditional_get.lua \
--       "http://127.0.0.1:8002/api/v1/products?limit=20&in_stock=true"
--
-- Like get.lua there is no request()/response() callback: wrk sends one pre-built request
-- and never enters Lua per request. No Accept-Encoding is sent, so the tag is the one of the
-- identity representation. done() prints the same "WRKJSON {...}" line as get.lua.

local etag = os.getenv("WRK_IF_NONE_MATCH") or ""
local label = os.getenv("WRK_LABEL") or ""

wrk.method = "GET"
wrk.headers["Accept"] = "application/json"
if etag ~= "" then wrk.headers["If-None-Match"] = etag end

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'WRKJSON {"label":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
      '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      label, summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
      e.connect, e.read, e.write, e.status, e.timeout))
end
