-- wrk_batch.lua - POST /v1/messages:batch, BATCH messages per request, each
-- with a unique client key so every one is really stored (the store commits
-- each batch durably before the 2xx).  Needs TD_TOKEN (a session token) and
-- BATCH in the environment.
local token = os.getenv("TD_TOKEN") or ""
local batch = tonumber(os.getenv("BATCH") or "50")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local texts = {
  "You will be smashed and killed within days.",
  "You lying traitor scum, nobody voted for this.",
  "I strongly disagree with your vote on the housing bill.",
  "Thank you for your help with the planning appeal.",
  "Drop out of the race or else.",
}
local thread_id = 0
setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

local seq = 0
request = function()
  seq = seq + 1
  local parts = {}
  for i = 1, batch do
    local t = texts[((seq + i) % #texts) + 1]
    parts[i] = string.format(
      '{"client_key":"bench-%s-%d-%d-%d","channel":"email","sender":"email:s%d@example.org","text":"%s"}',
      tostring(tid), os.time(), seq, i, i % 17, t)
  end
  return wrk.format(nil, nil, nil, '{"messages":[' .. table.concat(parts, ",") .. ']}')
end

response = function(status, headers, body)
  if status ~= 200 and status ~= 201 and status ~= 207 then
    io.stderr:write("unexpected status " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
  end
end
