-- wrk_perspective.lua - POST /v1alpha1/comments:analyze with a rotation of
-- realistic messages (threat, abuse, criticism, thanks), one per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local texts = {
  "You will be smashed and killed within days.",
  "We know where you live and where your kids go to school.",
  "You lying traitor scum, nobody voted for this.",
  "I strongly disagree with your vote on the housing bill and will campaign against you.",
  "Thank you for your help with the planning appeal, it made a real difference.",
  "We'll smash the Tories at the ballot box on Thursday!",
  "Go back to where you came from, you are not welcome here.",
  "Drop out of the race or else. We've been filming your canvassers.",
}
local bodies = {}
for i, t in ipairs(texts) do
  bodies[i] = '{"comment":{"text":"' .. t .. '"},"requestedAttributes":' ..
              '{"TOXICITY":{},"THREAT":{},"INSULT":{},"IDENTITY_ATTACK":{}},' ..
              '"spanAnnotations":true,"languages":["en"]}'
end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
