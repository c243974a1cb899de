-- openItems: a random page of open invoices across everything the viewer sees, by due date.
package.path = "bench/?.lua;" .. package.path
local c = require("common")
c.setup_headers(os.getenv("TOKEN"))

local query = [[query OpenItems($after: String) { openItems(first: 20, after: $after) { totals { amountCents currency } edges { cursor node { number totalCents currency dueAt account { customerNumber friendlyName } } } pageInfo { hasNextPage } } }]]

request = function()
  local body = '{"operationName":"OpenItems","query":"' .. query .. '","variables":{"after":null}}'
  return wrk.format(nil, "/graphql", nil, body)
end

setup = c.setup
response = c.check
done = c.done
