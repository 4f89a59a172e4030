#!/usr/bin/env bash
# Runs the MCP project's own tools against Orbit's HTTP endpoint: the
# Inspector CLI (@modelcontextprotocol/inspector) and the conformance suite
# (@modelcontextprotocol/conformance), from the npm registry, into a scratch
# directory. Needs Node.js and npm. Results are described in docs/mcp.md.
#
#   scripts/mcp-check.sh [URL]      (default http://127.0.0.1:8080/mcp)
#
# Start a node first, writable so kv_set can be tried:
#   ORBIT__MCP__READ_ONLY=false cargo run --release -p orbit-server -- --storage memory
set -euo pipefail
url="${1:-http://127.0.0.1:8080/mcp}"
work="${MCP_CHECK_DIR:-${TMPDIR:-/tmp}/orbit-mcp-check}"
mkdir -p "$work"
cd "$work"
[ -f package.json ] || npm init -y >/dev/null
# conformance 0.1.10 is the newest that runs on Node 20 (0.1.16 needs fs.globSync, Node 22).
npm install --no-audit --no-fund @modelcontextprotocol/inspector@2.12.0 @modelcontextprotocol/conformance@0.1.10 >/dev/null
inspector() { npx --no-install mcp-inspector --cli "$url" "$@" 2>/dev/null; }

echo "== Inspector CLI: tools/list"
inspector --method tools/list | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    const tools = JSON.parse(s.slice(0, s.lastIndexOf("}") + 1)).tools;
    console.log(tools.length + " tools: " + tools.map(t => t.name).join(", "));
    console.log("with outputSchema: " + tools.filter(t => t.outputSchema).length);
  });'
echo "== Inspector CLI: tools/call kv_set, kv_get"
inspector --method tools/call --tool-name kv_set --tool-arg key=mcp-check --tool-arg value=ok
inspector --method tools/call --tool-name kv_get --tool-arg key=mcp-check
echo "== Inspector CLI: resources/list, prompts/list"
inspector --method resources/list
inspector --method prompts/list
echo "== conformance server suite"
npx --no-install conformance server --url "$url" 2>/dev/null | sed -n '/SUMMARY/,$p'
