-- wrk script: counts responses whose status is not 2xx, over all threads, and prints them.
-- wrk's own "Non-2xx or 3xx responses" line lets 3xx pass; a proxy benchmark wants strictly 2xx.
-- Output (parsed by bench/proxy.sh):
--   non-2xx: <total> (1xx <n>, 3xx <n>, 4xx <n>, 5xx <n>, first <status>)
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad, bad1, bad3, bad4, bad5, first_bad = 0, 0, 0, 0, 0, 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
    if status < 200 then bad1 = bad1 + 1
    elseif status < 400 then bad3 = bad3 + 1
    elseif status < 500 then bad4 = bad4 + 1
    else bad5 = bad5 + 1 end
  end
end

function done(summary, latency, requests)
  local total, c1, c3, c4, c5, first = 0, 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
    c1 = c1 + t:get("bad1")
    c3 = c3 + t:get("bad3")
    c4 = c4 + t:get("bad4")
    c5 = c5 + t:get("bad5")
    if first == 0 then first = t:get("first_bad") end
  end
  io.write(string.format("non-2xx: %d (1xx %d, 3xx %d, 4xx %d, 5xx %d, first %d)\n", total, c1, c3, c4, c5, first))
end
