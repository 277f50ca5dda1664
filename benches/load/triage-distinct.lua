-- POST /triage where no two alerts read alike: the document, folder and user words in the
-- description change on every request, so nothing is answered from the query-vector cache.
-- wrk -s benches/load/triage-distinct.lua
counter = 0
words = {"invoice", "payroll", "budget", "contract", "shipping", "quarterly", "review", "tax",
  "bonus", "audit", "merger", "vendor", "claims", "policy", "benefits", "travel", "expense",
  "pricing", "forecast", "order", "delivery", "customs", "tender", "salary", "pension",
  "refund", "statement", "receipt", "summary", "proposal", "agenda", "minutes", "schedule",
  "roster", "inventory", "license", "renewal", "warranty", "dispute", "appeal", "notice",
  "memo", "brief", "report", "plan", "draft", "final", "urgent", "signed", "scanned"}
function w() return words[math.random(1, #words)] end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"alert": {"alert_id": "distinct-%d-%d", "host": "WS-%d", "severity": "high", "title": "Office document spawned PowerShell", '
    .. '"description": "%s %s %s document opened by %s from the %s share launched powershell.exe hidden", '
    .. '"raw_log": {"ParentImage": "WINWORD.EXE", "CommandLine": "powershell.exe -NoP -W Hidden -File %s_%s.ps1"}}}',
    math.random(1, 1000000000), counter, counter, w(), w(), w(), w(), w(), w(), w())
  return wrk.format("POST", "/triage", {["Content-Type"] = "application/json"}, body)
end
