//! The stdio transport: a child process speaking newline-delimited JSON-RPC.
//!
//! One task owns the child. It writes the outbound queue to stdin (batching what is queued
//! into one flush), reads stdout line by line into [`Mux::dispatch`], and drains stderr into
//! `tracing` at debug level so a chatty server can never block on a full pipe. When the
//! session ends (EOF, exit, or close) it closes stdin, gives the child a short grace period to
//! exit, then kills it and reaps it: no zombies.

use crate::jsonrpc::Message;
use crate::mux::{Mux, Origin};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a child may take to exit after its stdin closes before it is killed.
const GRACE: Duration = Duration::from_millis(500);

/// One line of stdout longer than this is treated as a broken server.
const MAX_LINE: usize = 64 << 20;

/// What to run.
pub(crate) struct StdioCommand<'a> {
    pub(crate) command: &'a str,
    pub(crate) args: &'a [String],
    pub(crate) env: &'a [(String, String)],
    pub(crate) cwd: Option<&'a PathBuf>,
}

/// Spawn the child and the task that owns it.
pub(crate) fn spawn(
    cmd: StdioCommand<'_>,
    mux: Arc<Mux>,
    outbound: mpsc::Receiver<Message>,
) -> std::io::Result<(JoinHandle<()>, Option<u32>)> {
    let mut command = Command::new(cmd.command);
    command
        .args(cmd.args)
        // Replicas of one command are otherwise identical; this lets a server (such as the
        // bundled demo) know which one it is. Explicit `env` entries still win.
        .env("VECGATE_REPLICA", mux.ident().replica.to_string())
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = cmd.cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn()?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(std::io::Error::other("child pipes missing"));
    };
    let ident = mux.ident().clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(pool = %ident.pool_name, replica = ident.replica, stderr = %line, "upstream stderr");
        }
    });
    let pid = child.id();
    Ok((tokio::spawn(run(child, stdin, stdout, mux, outbound)), pid))
}

async fn run(
    mut child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    mux: Arc<Mux>,
    outbound: mpsc::Receiver<Message>,
) {
    let closed = mux.closed_token().clone();
    let reason = tokio::select! {
        reason = read(stdout, &mux) => reason,
        reason = write(stdin, outbound) => reason,
        status = child.wait() => format!("process exited ({})", describe(status)),
        _ = closed.cancelled() => String::from("closed"),
    };
    // The pipes are dropped by now (their futures ended): a well-behaved server exits on EOF.
    let reason = match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(status) if reason == "stdout closed" => format!("process exited ({})", describe(status)),
        Ok(_) => reason,
        Err(_) => {
            let _ = child.kill().await; // kill and reap
            reason
        }
    };
    tracing::debug!(pool = %mux.ident().pool_name, replica = mux.ident().replica, %reason, "stdio replica ended");
    mux.close(reason);
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

async fn read(stdout: ChildStdout, mux: &Mux) -> String {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        match read_line(&mut reader, &mut line).await {
            Ok(0) => return String::from("stdout closed"),
            Ok(_) => {}
            Err(e) => return format!("stdout: {e}"),
        }
        let text = trim_line(&line);
        if text.is_empty() {
            continue;
        }
        match Message::parse(text) {
            Ok(message) => mux.dispatch(message, Origin::Unknown),
            Err(e) => mux.bad_message(text, &e.to_string()),
        }
    }
}

/// `read_until` with a length cap, so a server that never writes a newline cannot make the
/// gateway buffer without bound.
async fn read_line(
    reader: &mut BufReader<ChildStdout>,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(line.len());
        }
        let (used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        line.extend_from_slice(&available[..used]);
        reader.consume(used);
        if done {
            return Ok(line.len());
        }
        if line.len() > MAX_LINE {
            return Err(std::io::Error::other("line longer than 64 MiB"));
        }
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let start = line[..end]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(end);
    &line[start..end]
}

async fn write(stdin: ChildStdin, mut outbound: mpsc::Receiver<Message>) -> String {
    let mut writer = BufWriter::with_capacity(64 * 1024, stdin);
    let mut bytes = Vec::with_capacity(4096);
    while let Some(message) = outbound.recv().await {
        bytes.clear();
        message.write_to(&mut bytes);
        bytes.push(b'\n');
        // Batch whatever else is already queued into the same flush.
        while let Ok(more) = outbound.try_recv() {
            more.write_to(&mut bytes);
            bytes.push(b'\n');
            if bytes.len() > 1 << 20 {
                break;
            }
        }
        if let Err(e) = writer.write_all(&bytes).await {
            return format!("stdin: {e}");
        }
        if let Err(e) = writer.flush().await {
            return format!("stdin: {e}");
        }
    }
    String::from("outbound queue closed")
}
