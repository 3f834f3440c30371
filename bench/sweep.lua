-- wrk script: the requests of a mirrorwatch sweep of the whole network, in a loop.
--
--   wrk -s bench/sweep.lua URL -- TARGETS MIRRORS MODE PORT
--
-- TARGETS is targets.txt from bench/gen.py ("<dir> <etag> <data file> ..." per target).
-- MODE "cold": for each mirror and target, GET repomd.xml then HEAD each data file it
-- references (a first sweep). wrk cannot read the answer to a HEAD (it waits for the body
-- the Content-Length announces), so each HEAD is sent as "GET, If-None-Match: *": nginx
-- opens and stats the file just the same and answers with headers only (304). MODE "warm": a conditional GET of each repomd.xml with the
-- validators nginx gave it (every answer a 304, as in a steady-state sweep). MODE "get":
-- a plain GET of each repomd.xml. MODE "probe": GET of blackbox_exporter's
-- /probe?module=http_2xx&target=<the repomd.xml URL of mirror i>, mirror i being
-- http://127.20.<i/250>.<i%250+1>:PORT/m<i>/ as bench/gen.py lays it out.
-- Each thread starts at its own mirror, so threads do not walk the same files in step.
-- No response() callback: it would cost wrk a Lua call per answer and lower the ceiling.

local lastmod = "Thu, 20 Nov 2025 00:00:00 GMT"
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

local function addr(i)
   return string.format("127.20.%d.%d", math.floor(i / 250), i % 250 + 1)
end

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
   local file, mirrors, mode = args[1], tonumber(args[2]), args[3]
   port = args[4] or "18080"
   targets = {}
   for line in io.lines(file) do
      local fields = {}
      for f in line:gmatch("%S+") do table.insert(fields, f) end
      local t = { dir = fields[1], etag = fields[2], data = {} }
      for k = 3, #fields do table.insert(t.data, fields[k]) end
      table.insert(targets, t)
   end
   nmirrors = mirrors
   kind = mode
   mirror = (id or 0) * math.floor(mirrors / 7 + 1) % mirrors
   target = 1
   step = 0 -- 0: the repomd.xml, k: the k-th data file (cold mode)
end

local function advance()
   target = target + 1
   if target > #targets then
      target = 1
      mirror = (mirror + 1) % nmirrors
   end
end

function request()
   local t = targets[target]
   local base = "/m" .. mirror .. "/almalinux/" .. t.dir
   if kind == "warm" then
      advance()
      return wrk.format("GET", base .. "repodata/repomd.xml",
         { ["If-None-Match"] = t.etag, ["If-Modified-Since"] = lastmod })
   elseif kind == "get" then
      advance()
      return wrk.format("GET", base .. "repodata/repomd.xml")
   elseif kind == "probe" then
      local url = "http://" .. addr(mirror) .. ":" .. port .. base .. "repodata/repomd.xml"
      advance()
      return wrk.format("GET", "/probe?module=http_2xx&target=" .. urlencode(url))
   end
   -- cold
   local path
   if step == 0 then
      path = base .. "repodata/repomd.xml"
   else
      path = base .. t.data[step]
   end
   local headers = nil
   if step > 0 then headers = { ["If-None-Match"] = "*" } end
   step = step + 1
   if step > #t.data then
      step = 0
      advance()
   end
   return wrk.format("GET", path, headers)
end
