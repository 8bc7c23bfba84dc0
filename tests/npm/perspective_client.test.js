// perspective_client.test.js - the public Perspective JS client
// (@conversationai/perspectiveapi-js-client) against threatdesk's
// POST /v1alpha1/comments:analyze.
//
// Run by tests/integration/server_perspective.sh with TD_BASE (the server's
// base URL) and TD_KEY (a valid API key) in the environment.
//
// How the client is pointed at us: its constructor hard-codes Google's host
// into the instance field `perspectiveApiUrl` (dist/api.js: `https://
// commentanalyzer.googleapis.com/v1alpha1/comments:analyze?key=${apiKey}`)
// and offers no option for another host, so we overwrite that field after
// construction - the smallest shim, and everything else (request shape,
// response parsing, error handling) is the client's own code.
"use strict";
const { test } = require("node:test");
const assert = require("node:assert");
const { Client } = require("@conversationai/perspectiveapi-js-client");

const base = process.env.TD_BASE;
const key = process.env.TD_KEY;
if (!base || !key) throw new Error("TD_BASE and TD_KEY must be set");

function client(k = key) {
  const c = new Client(k);
  assert.match(c.perspectiveApiUrl, /commentanalyzer\.googleapis\.com/);
  c.perspectiveApiUrl = `${base}/v1alpha1/comments:analyze?key=${encodeURIComponent(k)}`;
  return c;
}

const ATTRS = ["TOXICITY", "SEVERE_TOXICITY", "THREAT", "INSULT", "IDENTITY_ATTACK",
               "PROFANITY", "SEXUALLY_EXPLICIT", "FLIRTATION"];

test("every requested attribute comes back as a probability", async () => {
  const s = await client().getScores("You lying traitor, we know where you live.",
                                     { attributes: ATTRS });
  assert.deepStrictEqual(Object.keys(s).sort(), [...ATTRS].sort());
  for (const a of ATTRS) {
    assert.strictEqual(typeof s[a], "number", a);
    assert.ok(s[a] >= 0 && s[a] <= 1, `${a}=${s[a]}`);
  }
});

test("a death threat scores far above a thank-you note", async () => {
  const c = client();
  const opts = { attributes: ["THREAT", "TOXICITY"] };
  const threat = await c.getScores("Listen carefully: you will be killed within days.", opts);
  const thanks = await c.getScores("Thank you for your help with the planning appeal.", opts);
  assert.ok(threat.THREAT > 0.5, `threat THREAT=${threat.THREAT}`);
  assert.ok(thanks.THREAT < 0.5, `thanks THREAT=${thanks.THREAT}`);
  assert.ok(threat.TOXICITY > thanks.TOXICITY);
});

test("the client's default attributes include SPAM, which we refuse like the real API", async () => {
  await assert.rejects(client().getScores("hello there"), /400/);
});

test("a wrong key is refused", async () => {
  await assert.rejects(client("not-a-key").getScores("hello", { attributes: ["TOXICITY"] }),
                       /401/);
});

// Raw request, to see what the JS client throws away: spans and languages.
test("span offsets are UTF-16 code units (String.slice), past emoji", async () => {
  const text = "\u{1F600}\u{1F600} Listen carefully: you will be killed within days.";
  const res = await fetch(`${base}/v1alpha1/comments:analyze?key=${encodeURIComponent(key)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ comment: { text }, requestedAttributes: { THREAT: {} },
                           spanAnnotations: true, languages: ["en"], clientToken: "t-1" }),
  });
  assert.strictEqual(res.status, 200);
  const body = await res.json();
  assert.deepStrictEqual(body.languages, ["en"]);
  assert.strictEqual(body.clientToken, "t-1");
  const spans = body.attributeScores.THREAT.spanScores;
  assert.strictEqual(spans[0].begin, 0);
  assert.strictEqual(spans[0].end, text.length); // JS length counts UTF-16 units
  assert.ok(spans.length > 1, "a threat this plain has at least one explaining span");
  for (const s of spans.slice(1)) {
    assert.ok(s.begin >= 0 && s.end <= text.length && s.begin < s.end, JSON.stringify(s));
    const piece = text.slice(s.begin, s.end);
    // Byte offsets would land 4 units late (two 4-byte emoji are 2 units
    // each) and cut words; ours start and end on word characters.
    assert.match(piece, /^[A-Za-z].*[A-Za-z]$|^[A-Za-z]$/s, `span ${JSON.stringify(s)} -> "${piece}"`);
    assert.ok(!/[A-Za-z]/.test(text[s.begin - 1] || " "), `span starts mid-word: "${piece}"`);
  }
});
