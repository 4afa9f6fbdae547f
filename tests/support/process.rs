//! Child processes that tests start: logged, waited for with deadlines, killed on drop.
//!
//! Nothing here blocks without a bound: readiness is awaited with a timeout, commands run
//! under a deadline, and a [`Proc`] is killed when it goes out of scope, so a failing test
//! never leaves a gateway or backend running. A test that panics gets the process's output
//! printed, which is usually the explanation.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::SupportError;

/// A started child process whose stdout and stderr lines are collected.
pub struct Proc {
    what: String,
    child: Child,
    log: Arc<Mutex<String>>,
    lines: Receiver<String>,
}

impl Proc {
    /// Start `command` (stdin null, stdout and stderr captured); `what` names it in errors.
    pub fn spawn(what: &str, mut command: Command) -> Result<Proc, SupportError> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| SupportError::Spawn {
            command: format!("{command:?}"),
            source,
        })?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        for (stream, tag) in [
            (Box::new(out) as Box<dyn Read + Send>, "out"),
            (Box::new(err), "err"),
        ] {
            let log = Arc::clone(&log);
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_str(&format!("[{tag}] {line}\n"));
                    // The receiver may be gone (nobody waits for lines any more): keep draining.
                    let _ = tx.send(line);
                }
            });
        }
        Ok(Proc {
            what: what.to_owned(),
            child,
            log,
            lines,
        })
    }

    /// Everything the process printed so far (stdout and stderr, tagged).
    pub fn output(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The OS process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait until a printed line satisfies `accept`, returning what it extracts.
    pub fn wait_for_line<T>(
        &mut self,
        timeout: Duration,
        mut accept: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, SupportError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    if let Some(found) = accept(&line) {
                        return Ok(found);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(status) = self.try_status() {
                        return Err(self.exited(status));
                    }
                    if left.is_zero() {
                        return Err(SupportError::Timeout {
                            what: format!("waiting for {} to get ready", self.what),
                            after: timeout,
                            output: self.output(),
                        });
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Both pipes closed: the process is gone or going.
                    let status = self.wait_exit(Duration::from_secs(5));
                    return Err(self.exited(status.unwrap_or_else(|| "pipes closed".to_owned())));
                }
            }
        }
    }

    fn try_status(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn exited(&self, status: String) -> SupportError {
        // Give the reader threads a moment to collect the last lines.
        thread::sleep(Duration::from_millis(50));
        SupportError::Exited {
            what: self.what.clone(),
            status,
            output: self.output(),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "---- output of {} (pid {}) ----\n{}---- end of output ----",
                self.what,
                self.child.id(),
                self.output()
            );
        }
    }
}

/// What a command run to completion left behind.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// Run `command` to completion, killing it at `timeout` (stdin null, output captured).
pub fn run(what: &str, mut command: Command, timeout: Duration) -> Result<Finished, SupportError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| SupportError::Spawn {
        command: format!("{command:?}"),
        source,
    })?;
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(SupportError::io(format!("waiting for {what}")))?
        {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(25));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Some(status) => Ok(Finished {
            status,
            stdout,
            stderr,
        }),
        None => Err(SupportError::Timeout {
            what: what.to_owned(),
            after: timeout,
            output: format!("stdout:\n{stdout}\nstderr:\n{stderr}"),
        }),
    }
}

/// A loopback port that was free a moment ago (for servers that cannot pick their own).
pub fn free_port() -> Result<u16, SupportError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(SupportError::io("binding 127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(SupportError::io("reading the bound address"))?
        .port();
    Ok(port)
}

/// Wait until something accepts TCP connections on `addr`, or `proc` exits, or `timeout` passes.
pub fn wait_for_port(
    proc: &mut Proc,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), SupportError> {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = proc.try_status() {
            return Err(proc.exited(status));
        }
        if Instant::now() >= deadline {
            return Err(SupportError::Timeout {
                what: format!("waiting for {} to listen on {addr}", proc.what),
                after: timeout,
                output: proc.output(),
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The `http://…/mcp` URL in a ready line such as `vecgate listening on http://127.0.0.1:PORT/mcp`.
pub fn listening_url(line: &str) -> Option<String> {
    let start = line.find("listening on http://")? + "listening on ".len();
    let url: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    Some(url.trim_end_matches(['.', ',', '"', '\'']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_url_is_taken_from_the_ready_line() {
        assert_eq!(
            listening_url(
                "2026-11-25T14:00:00Z  INFO vecgate listening on http://127.0.0.1:4242/mcp"
            ),
            Some("http://127.0.0.1:4242/mcp".to_owned())
        );
        assert_eq!(
            listening_url("listening on http://127.0.0.1:1/mcp."),
            Some("http://127.0.0.1:1/mcp".to_owned())
        );
        assert_eq!(listening_url("starting pools"), None);
    }

    #[test]
    fn run_kills_a_command_at_its_deadline() {
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let started = Instant::now();
        let err = run("sleep 30", sleep, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, SupportError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn wait_for_line_reports_an_early_exit_with_its_output() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo boom >&2; exit 3"]);
        let mut proc = Proc::spawn("failing server", sh).unwrap();
        let err = proc
            .wait_for_line(Duration::from_secs(10), listening_url)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("exited early") && text.contains("boom"),
            "{text}"
        );
    }
}
