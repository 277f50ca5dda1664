-- POST /triage: the same rule firing on ever new hosts (new alert id and host on every request,
-- same title, description and command line), as in an alert storm. wrk -s benches/load/triage-repeat.lua
counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"alert": {"alert_id": "load-%d-%d", "host": "WS-%d", "severity": "high", "title": "Encoded PowerShell launched by Microsoft Word", '
    .. '"description": "WINWORD.EXE spawned powershell.exe with a base64-encoded command and a hidden window", '
    .. '"raw_log": {"ParentImage": "WINWORD.EXE", "CommandLine": "powershell.exe -NoP -W Hidden -Enc SQBFAFgA"}}}',
    math.random(1, 1000000000), counter, counter)
  return wrk.format("POST", "/triage", {["Content-Type"] = "application/json"}, body)
end
