-- wrk: each request carries the next of the bearer tokens listed in $TOKENS_FILE (one per
-- line), so concurrent requests belong to different sessions (and cannot share a row).
local tokens = {}
local n = 0

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    tokens[#tokens + 1] = line
  end
end

function request()
  n = n + 1
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1] })
end
