-- Shared by the wrk scripts: JSON POSTs to /graphql with the bench token.
local M = {}

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- base64url without padding, for Canopy's opaque cursors (the JSON of the last id).
function M.b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for j = 1, chars do
      local shift = 18 - 6 * (j - 1)
      local idx = math.floor(n / 2 ^ shift) % 64
      out[#out + 1] = alphabet:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

function M.setup_headers(token)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

-- Counts responses that are not 200 or carry GraphQL errors, per thread (each wrk
-- thread has its own Lua state), and sums them at the end.
local threads = {}
bad = 0

function M.setup(thread)
  table.insert(threads, thread)
end

function M.check(status, headers, body)
  -- GraphQL errors, and refusals in a payload (a LOCKED login is not a login). Canopy
  -- writes "errors" after "data", so the last 4 KiB hold them: scanning the whole of a
  -- 400 KB tree response twice cost wrk about 1 ms of CPU per request, on the cores the
  -- server shares.
  if status ~= 200 or (body and (body:find('"errors"', -4096, true) or body:find('"code"', -4096, true))) then
    bad = bad + 1
  end
end

function M.done()
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("bad") or 0)
  end
  io.write(string.format("bad_responses %d\n", total))
end

return M
