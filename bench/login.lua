-- login: argon2id verification of the bench staff password.
package.path = "bench/?.lua;" .. package.path
local c = require("common")
c.setup_headers(nil)
local body = '{"operationName":"Login","query":"mutation Login { login(input: {loginName: \\"bench\\", password: \\"bench-password-2026\\"}) { token userErrors { code } } }"}'

request = function()
  return wrk.format(nil, "/graphql", nil, body)
end

response = c.check
done = function(summary, latency, requests)
  io.write(string.format("bad_responses %d\n", c.bad))
end
