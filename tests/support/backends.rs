//! Real MCP servers started as separate processes for the tests: the bundled demo server and
//! `@modelcontextprotocol/server-everything` over Streamable HTTP, and claude-flow's stdio
//! server command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Proc, free_port, listening_url, wait_for_port};
use crate::{SupportError, paths};

/// How long a backend may take to start listening.
pub const BACKEND_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// An MCP server listening on loopback, killed on drop.
pub struct HttpBackend {
    proc: Proc,
    url: String,
}

impl HttpBackend {
    /// `server-everything streamableHttp` on a free port.
    pub fn everything() -> Result<HttpBackend, SupportError> {
        let script = paths::server_everything()?;
        let port = free_port()?;
        let mut command = Command::new(paths::node());
        command
            .arg(&script)
            .arg("streamableHttp")
            .env("PORT", port.to_string());
        let mut proc = Proc::spawn("server-everything (Streamable HTTP)", command)?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_for_port(&mut proc, addr, BACKEND_READY_TIMEOUT)?;
        Ok(HttpBackend {
            proc,
            url: format!("http://127.0.0.1:{port}/mcp"),
        })
    }

    /// The bundled demo server with `--http 127.0.0.1:0`, ready when it prints its URL.
    pub fn demo() -> Result<HttpBackend, SupportError> {
        let argv = paths::demo_server_command()?;
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).args(["--http", "127.0.0.1:0"]);
        let mut proc = Proc::spawn("demo server (Streamable HTTP)", command)?;
        let url = proc.wait_for_line(BACKEND_READY_TIMEOUT, listening_url)?;
        Ok(HttpBackend { proc, url })
    }

    /// Its MCP endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        self.proc.output()
    }
}

/// claude-flow's MCP server, isolated: its own temporary HOME and working directory, because it
/// keeps memory and configuration on disk.
pub struct ClaudeFlow {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl ClaudeFlow {
    /// Locate the installed CLI and make its sandbox.
    pub fn new() -> Result<ClaudeFlow, SupportError> {
        let bin = paths::claude_flow()?;
        let dir = tempfile::tempdir().map_err(SupportError::io("creating claude-flow's HOME"))?;
        Ok(ClaudeFlow { dir, bin })
    }

    /// The command line of its stdio MCP server.
    pub fn command(&self) -> Vec<String> {
        vec![
            self.bin.display().to_string(),
            "mcp".to_owned(),
            "start".to_owned(),
        ]
    }

    /// Its HOME and working directory.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }
}
