"""``qbizfed mcp``: an identity-aware Model Context Protocol server for Amazon Q Business.

profile_user.py   the signed-in user of a qbizfed profile (cached credentials, refresh)
tools.py          the tools: argument limits, Q Business calls, results as text
server.py         the MCP server (official ``mcp`` SDK) over stdio or streamable HTTP
http_guard.py     bearer-token and loopback guard for the HTTP transport
"""
