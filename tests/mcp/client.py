"""A real MCP client for tests/mcp: the official Python SDK (PyPI `mcp`, pinned in hack/test.sh).

Connects to a Streamable HTTP endpoint, initializes, lists the tools, runs the tool calls given
as JSON, and prints one JSON document on stdout for the Rust test to assert on:

    {"protocolVersion", "serverInfo", "tools": [{"name", "inputSchema", "outputSchema"}],
     "calls": [{"tool", "isError", "structured", "text"} | {"tool", "error", "code"}]}

Usage: client.py URL CALLS_JSON  (CALLS_JSON: [{"tool": name, "arguments": {...}}, ...])
URL "stdio" starts the server as a child process instead: MCP_STDIO_COMMAND holds its argv as a
JSON list, and the SDK speaks MCP over its stdin and stdout.
Environment: MCP_TOKEN (sent as a bearer token when set), MCP_CA_FILE (PEM to trust for https).
A failure to connect or initialize prints {"connectError": ...} and exits 2.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def _dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def session_calls(session, calls):
    out = {"calls": []}
    init = await session.initialize()
    out["protocolVersion"] = init.protocol_version
    out["serverInfo"] = _dump(init.server_info)
    listed = await session.list_tools()
    out["tools"] = [
        {
            "name": tool.name,
            "inputSchema": tool.input_schema,
            "outputSchema": tool.output_schema,
        }
        for tool in listed.tools
    ]
    for call in calls:
        name = call["tool"]
        try:
            result = await session.call_tool(name, call.get("arguments"))
        except Exception as error:  # JSON-RPC errors and client-side validation
            code = getattr(getattr(error, "error", None), "code", None)
            out["calls"].append({"tool": name, "error": str(error), "code": code})
            continue
        text = "".join(block.text for block in result.content if getattr(block, "text", None))
        out["calls"].append(
            {
                "tool": name,
                "isError": bool(result.is_error),
                "structured": result.structured_content,
                "text": text,
            }
        )
    return out


async def run(url, calls):
    if url == "stdio":
        argv = json.loads(os.environ["MCP_STDIO_COMMAND"])
        server = StdioServerParameters(command=argv[0], args=argv[1:])
        async with stdio_client(server) as (read, write):
            async with ClientSession(read, write) as session:
                return await session_calls(session, calls)
    headers = {}
    token = os.environ.get("MCP_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    verify = os.environ.get("MCP_CA_FILE") or True
    timeout = httpx2.Timeout(60.0)
    async with httpx2.AsyncClient(headers=headers, verify=verify, timeout=timeout) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                return await session_calls(session, calls)


def main():
    url, calls = sys.argv[1], json.loads(sys.argv[2])
    try:
        out = asyncio.run(run(url, calls))
    except BaseException as error:  # an ExceptionGroup from the transport's task group too
        causes = getattr(error, "exceptions", None) or [error]
        print(json.dumps({"connectError": "; ".join(repr(c) for c in causes)}))
        sys.exit(2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
