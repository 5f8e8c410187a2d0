-- login.lua: wrk script for POST /api/v1/auth/login, the same against Storefront and
-- against the baseline (the URL on wrk's command line names the server).
--
--   WRK_LOGIN_USERS   how many seeded users to cycle through [1000]
--   WRK_LOGIN_FIRST   number of the first user [1]
--   WRK_EMAIL_FORMAT  string.format pattern of the e-mail [user%d@bench.example.com]
--   WRK_PASSWORD      the password of every seeded user [bench-password-1]; another one
--                     makes a wrong-password storm (answers 401, or 429/503 by design)
--   WRK_FORWARDED_IPS spread the requests over this many client IPs with X-Forwarded-For
--                     (198.51.100.1, .2, ...), for a server that trusts the client as a proxy [0: off]
--   WRK_LABEL         free text copied into the summary line
--
--   wrk -t2 -c8 -d15s --timeout 30s -s login.lua http://127.0.0.1:8002/api/v1/auth/login
--
-- Every request logs in as the next user of the range (threads start at different users),
-- so a per-e-mail limit is spread out as it would be in a real storm. Success is 200; wrk
-- counts anything outside 2xx/3xx in err_status. Each login costs one bcrypt check (cost
-- 12: about 0.3 s of CPU), so use a generous --timeout: wrk leaves requests that time out
-- out of the latency statistics. done() prints one "WRKJSON {...}" line, the same format as
-- get.lua and post_order.lua.

local n_users = tonumber(os.getenv("WRK_LOGIN_USERS") or "1000")
local first = tonumber(os.getenv("WRK_LOGIN_FIRST") or "1")
local email_format = os.getenv("WRK_EMAIL_FORMAT") or "user%d@bench.example.com"
local password = os.getenv("WRK_PASSWORD") or "bench-password-1"
local label = os.getenv("WRK_LABEL") or ""
local forwarded_ips = tonumber(os.getenv("WRK_FORWARDED_IPS") or "0")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

-- main state: hand every thread its number, so threads start at different users
local thread_count = 0
function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
end

local counter = 0

function init(args)
   counter = ((thread_no or 1) - 1) * 389  -- a prime stride: threads start far apart
end

function request()
   local user = first + counter % n_users
   counter = counter + 1
   local body = string.format('{"email":"%s","password":"%s"}',
                              string.format(email_format, user), password)
   if forwarded_ips > 0 then
      -- a headers table of its own replaces wrk.headers: repeat them
      local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json",
                       ["X-Forwarded-For"] = "198.51.100." .. (1 + counter % forwarded_ips)}
      return wrk.format("POST", nil, headers, body)
   end
   return wrk.format("POST", nil, nil, body)
end

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
