-- Walks a list of session cookies (one per line, in the file named by the
-- first script argument; the second is the number of wrk threads): each
-- thread starts at its own share of the list, so every session is used once
-- before any is used twice.
local threads = {}
function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end
function init(args)
    cookies = {}
    for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
    i = id * math.floor(#cookies / tonumber(args[2]))
end
function request()
    i = i % #cookies + 1
    return wrk.format("GET", nil, { ["Cookie"] = "ts_session=" .. cookies[i] })
end
