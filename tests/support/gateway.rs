//! Starting the real `vecgate` binary: a configuration written to a temporary file, `vecgate
//! serve --listen 127.0.0.1:0`, and the URL parsed from its ready line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Proc, listening_url};
use crate::{SupportError, paths};

/// How long a gateway may take to start its pools and print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One upstream pool of a gateway configuration.
#[derive(Clone, Debug)]
pub struct Pool {
    name: String,
    body: Vec<(String, String)>,
}

/// A TOML value written verbatim: a string or array of strings, quoted as TOML basic strings.
fn quoted(s: &str) -> String {
    // JSON string syntax (\" \\ \n \uXXXX) is valid TOML basic-string syntax.
    serde_json::Value::String(s.to_owned()).to_string()
}

fn quoted_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", items.join(", "))
}

impl Pool {
    /// A stdio pool: `replicas` processes of `command[0] command[1..]`.
    pub fn stdio(name: &str, command: &[String], replicas: u32) -> Pool {
        let (program, args) = command.split_first().expect("a command");
        Pool {
            name: name.to_owned(),
            body: vec![
                ("command".to_owned(), quoted(program)),
                ("args".to_owned(), quoted_list(args)),
                ("replicas".to_owned(), replicas.to_string()),
            ],
        }
    }

    /// A Streamable HTTP pool: one replica per URL.
    pub fn http(name: &str, urls: &[String]) -> Pool {
        Pool {
            name: name.to_owned(),
            body: vec![("urls".to_owned(), quoted_list(urls))],
        }
    }

    /// Add a raw `key = value` line (value already TOML, e.g. `"120000"` or `"\"/tmp\""`).
    pub fn with(mut self, key: &str, toml_value: &str) -> Pool {
        self.body.push((key.to_owned(), toml_value.to_owned()));
        self
    }

    /// Set the pool's working directory.
    pub fn cwd(self, dir: &Path) -> Pool {
        let value = quoted(&dir.display().to_string());
        self.with("cwd", &value)
    }

    /// Set one environment variable of the pool's processes.
    pub fn env(mut self, key: &str, value: &str) -> Pool {
        self.body
            .push((format!("env.{}", quoted(key)), quoted(value)));
        self
    }
}

/// A whole gateway configuration.
#[derive(Clone, Debug, Default)]
pub struct GatewayConfig {
    top: Vec<(String, String)>,
    pools: Vec<Pool>,
}

impl GatewayConfig {
    /// A configuration with these pools (listen address: given on the command line).
    pub fn new(pools: Vec<Pool>) -> GatewayConfig {
        GatewayConfig {
            top: Vec::new(),
            pools,
        }
    }

    /// Add a raw top-level `key = value` line (value already TOML).
    pub fn with(mut self, key: &str, toml_value: &str) -> GatewayConfig {
        self.top.push((key.to_owned(), toml_value.to_owned()));
        self
    }

    /// Its pools.
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// The TOML text.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.top {
            out.push_str(&format!("{k} = {v}\n"));
        }
        for pool in &self.pools {
            out.push_str(&format!("\n[[pool]]\nname = {}\n", quoted(&pool.name)));
            // Dotted `env.X` keys must come after plain keys of the same table; TOML allows
            // both in any order, but grouping keeps the file readable.
            for (k, v) in pool.body.iter().filter(|(k, _)| !k.starts_with("env.")) {
                out.push_str(&format!("{k} = {v}\n"));
            }
            for (k, v) in pool.body.iter().filter(|(k, _)| k.starts_with("env.")) {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }

    /// The bundled demo server as a stdio pool of `replicas` processes.
    pub fn demo(replicas: u32) -> Result<GatewayConfig, SupportError> {
        Ok(GatewayConfig::new(vec![Pool::stdio(
            "demo",
            &paths::demo_server_command()?,
            replicas,
        )]))
    }

    /// server-everything as a stdio pool.
    pub fn everything_stdio(replicas: u32) -> Result<GatewayConfig, SupportError> {
        let script = paths::server_everything()?;
        Ok(GatewayConfig::new(vec![Pool::stdio(
            "everything",
            &[
                paths::node(),
                script.display().to_string(),
                "stdio".to_owned(),
            ],
            replicas,
        )]))
    }
}

/// A running `vecgate serve`, killed on drop.
pub struct Gateway {
    proc: Proc,
    url: String,
    config_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Write `config` to a temporary file and start `vecgate serve --listen 127.0.0.1:0` on it.
    pub fn serve(config: &GatewayConfig) -> Result<Gateway, SupportError> {
        let dir = tempfile::tempdir().map_err(SupportError::io("creating a temp dir"))?;
        let config_path = dir.path().join("vecgate.toml");
        std::fs::write(&config_path, config.to_toml()).map_err(SupportError::io(format!(
            "writing {}",
            config_path.display()
        )))?;
        let mut command = Command::new(paths::vecgate()?);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .current_dir(dir.path())
            .env(
                "VECGATE_LOG",
                std::env::var("VECGATE_LOG").unwrap_or_else(|_| "info".to_owned()),
            );
        let mut proc = Proc::spawn("vecgate serve", command)?;
        let url = proc.wait_for_line(READY_TIMEOUT, |line| {
            line.contains("vecgate listening on")
                .then(|| listening_url(line))
                .flatten()
        })?;
        Ok(Gateway {
            proc,
            url,
            config_path,
            _dir: dir,
        })
    }

    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> &str {
        let rest = self.url.trim_start_matches("http://");
        rest.split('/').next().unwrap_or(rest)
    }

    /// The configuration file it runs on (for `vecgate stdio --config` with the same pools).
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Its process id (to send it signals, e.g. `SIGHUP` to reload).
    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// What the gateway printed so far.
    pub fn output(&self) -> String {
        self.proc.output()
    }

    /// Whether it is still running (a test can check it survived abuse).
    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }
}

/// A configuration file in a temporary directory, for `vecgate stdio --config FILE`.
pub struct ConfigFile {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ConfigFile {
    /// Write `config` out.
    pub fn write(config: &GatewayConfig) -> Result<ConfigFile, SupportError> {
        let dir = tempfile::tempdir().map_err(SupportError::io("creating a temp dir"))?;
        let path = dir.path().join("vecgate.toml");
        std::fs::write(&path, config.to_toml())
            .map_err(SupportError::io(format!("writing {}", path.display())))?;
        Ok(ConfigFile { path, _dir: dir })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_renders_as_the_documented_toml() {
        let config = GatewayConfig::new(vec![
            Pool::stdio(
                "everything",
                &["node".into(), "x \"y\".js".into(), "stdio".into()],
                2,
            )
            .env("HOME", "/tmp/h"),
            Pool::http("remote", &["http://127.0.0.1:9001/mcp".into()]),
        ])
        .with("list_page_size", "50");
        let text = config.to_toml();
        assert_eq!(
            text,
            "list_page_size = 50\n\n[[pool]]\nname = \"everything\"\ncommand = \"node\"\n\
             args = [\"x \\\"y\\\".js\", \"stdio\"]\nreplicas = 2\nenv.\"HOME\" = \"/tmp/h\"\n\n\
             [[pool]]\nname = \"remote\"\nurls = [\"http://127.0.0.1:9001/mcp\"]\n"
        );
    }
}
