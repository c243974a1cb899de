-- login: argon2id verification of the bench staff password.
package.path = "bench/?.lua;" .. package.path
local c = require("common")
c.setup_headers(nil)
math.randomseed(os.time() + math.floor(os.clock() * 1e6))

request = function()
  local login = "bench" .. math.random(1, 100)
  local body = '{"operationName":"Login","query":"mutation Login { login(input: {loginName: \\"' .. login .. '\\", password: \\"bench-password-2026\\"}) { token userErrors { code } } }"}'
  return wrk.format(nil, "/graphql", nil, body)
end

setup = c.setup
response = c.check
done = c.done
