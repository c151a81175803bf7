//! The MCP server the agent talks to (streamable HTTP at `/mcp`).
