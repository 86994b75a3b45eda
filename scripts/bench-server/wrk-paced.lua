-- wrk script for `make bench-server`'s latency at a given load: wrk.lua's reads, each connection pausing a random
-- time between its requests (exponentially distributed: arrivals close to a Poisson process), so the offered rate is
-- about connections / (pause + latency) instead of all the server can take. Arguments after `--`: read FILE N PAUSE,
-- PAUSE the mean pause in milliseconds. wrk times each request from its sending, so the pauses are not counted.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "wrk.lua")

local readsInit = init

function init(args)
  readsInit(args)
  pause = assert(tonumber(args[4]), "wrk-paced.lua needs a mean pause (ms) after the page size")
  math.randomseed(id * 7919 + os.time())
end

function delay()
  return -math.log(1 - math.random()) * pause
end
