-- The SPA tree query: a random page of 20 main accounts, each with its 25 secondaries,
-- their groups and open balances, and the latest 5 invoices of every account.
package.path = "bench/?.lua;" .. package.path
local c = require("common")
c.setup_headers(os.getenv("TOKEN"))
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local families = tonumber(os.getenv("MAINS") or "2000")
local family_size = tonumber(os.getenv("FAMILY_SIZE") or "26")

local query = [[query Tree($after: String) { viewer { accounts(first: 20, after: $after, topLevel: true) { edges { node { id customerNumber friendlyName role group { name } openBalance { amountCents currency } invoices(first: 5) { edges { node { number status totalCents currency dueAt } } } secondaries(first: 25) { edges { node { id customerNumber friendlyName role group { name } openBalance { amountCents currency } invoices(first: 5) { edges { node { number status totalCents currency dueAt } } } } } } } } pageInfo { hasNextPage endCursor } } } }]]

request = function()
  -- Start after a random main account (mains are ids 1, 1 + family_size, ...).
  local k = math.random(0, families - 21)
  local after = k * family_size
  local body = '{"operationName":"Tree","query":"' .. query .. '","variables":{"after":"' .. c.b64url(tostring(after)) .. '"}}'
  return wrk.format(nil, "/graphql", nil, body)
end

setup = c.setup
response = c.check
done = c.done
