-- wrk script of bench/run.sh: replays prepared requests, one per line of the file named by
-- $BENCH_REQUESTS, as "METHOD<TAB>PATH<TAB>SIGNATURE-or-'-'<TAB>BODY". Without BENCH_CYCLE, thread
-- k of n sends lines k, k+n, k+2n, ... once each (every create and cancel must use a distinct id;
-- running out is an error). With BENCH_CYCLE=1 every thread cycles over every line: a file shorter
-- than the thread count (GET /status is one line) must still keep every thread busy; a thread with
-- nothing to send would leave its connections idle until the server closes them. $BENCH_TOKEN, when set, is sent as a
-- Bearer token. Counts non-2xx answers; `done` prints one machine-readable line:
--   BENCH rps=... p50_us=... p99_us=... p999_us=... requests=... non2xx=... exhausted=... errors=...
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  non2xx = 0
  exhausted = 0
  first_bad = ""
  local path = os.getenv("BENCH_REQUESTS")
  local cycle = os.getenv("BENCH_CYCLE") == "1"
  local token = os.getenv("BENCH_TOKEN")
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local requests = {}
  local index = 0
  for line in io.lines(path) do
    if cycle or index % nthreads == id then
      local method, target, signature, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      if body ~= "" then headers["Content-Type"] = "application/json" end
      if signature ~= "-" then headers["Payload-Signature"] = signature end
      if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
      if body == "" then body = nil end
      requests[#requests + 1] = wrk.format(method, target, headers, body)
    end
    index = index + 1
  end
  prepared = requests
  position = 0
  wrapped = false
  allow_cycle = cycle
end

function request()
  position = position + 1
  if position > #prepared then
    position = 1
    if not allow_cycle then wrapped = true end
  end
  -- past the end of a distinct-only file, every further request repeats one: the run fails
  if wrapped then exhausted = exhausted + 1 end
  return prepared[position]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == "" then first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 160) end
  end
end

function done(summary, latency, requests)
  local bad = 0
  local gone = 0
  local sample = ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    gone = gone + thread:get("exhausted")
    local s = thread:get("first_bad")
    if sample == "" and s ~= nil and s ~= "" then sample = s end
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.timeout
  io.write(string.format(
    "BENCH rps=%.1f p50_us=%d p99_us=%d p999_us=%d requests=%d non2xx=%d exhausted=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), summary.requests, bad, gone, errors))
  if sample ~= "" then io.write("BENCH first_non2xx: " .. sample:gsub("[\r\n\t]", " ") .. "\n") end
end
