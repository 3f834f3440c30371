-- wrk script: each connection waits DELAY_MS before each request, so that the load stays
-- below saturation (about connections * 1000 / (DELAY_MS + latency) requests a second).
--
--   wrk -s bench/paced.lua URL -- DELAY_MS

local pause = 0

function init(args)
   pause = tonumber(args[1]) or 0
end

function delay()
   return pause
end
