//! Upstream MCP connections, supervision and the bundled demo server.
