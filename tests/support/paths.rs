//! Where the tests find what they run: the built binaries, the client drivers, and the
//! packages `scripts/install-test-deps` installs.
//!
//! Every location can be overridden by an environment variable (set by `scripts/test`); the
//! defaults are the places that script installs to, so a plain `cargo nextest run` works after
//! one `scripts/test`.

use std::path::{Path, PathBuf};

use crate::SupportError;

/// The pinned versions the drivers and plans are written for.
pub const CLAUDE_FLOW_VERSION: &str = "3.42.5";
/// The pinned Python SDK.
pub const PYTHON_MCP_VERSION: &str = "2.3.0";

const HINT: &str = "run scripts/test (it installs the test dependencies and builds the workspace)";

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The directory with the built binaries: `$VECGATE_BIN_DIR`, else the profile directory this
/// very test binary was built into (`target/debug/deps/..`), else `$CARGO_TARGET_DIR/debug`,
/// else `target/debug` in the workspace.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VECGATE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && deps.file_name().is_some_and(|n| n == "deps")
        && let Some(profile) = deps.parent()
    {
        return profile.to_path_buf();
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("debug"),
        None => workspace_root().join("target").join("debug"),
    }
}

/// A built binary of the workspace, which must exist.
pub fn binary(name: &str) -> Result<PathBuf, SupportError> {
    let path = bin_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(SupportError::Missing {
            what: format!("binary `{name}`"),
            path,
            hint: format!("build it with `cargo build --workspace --all-targets`, or {HINT}"),
        })
    }
}

/// The `vecgate` binary.
pub fn vecgate() -> Result<PathBuf, SupportError> {
    binary("vecgate")
}

/// The command line that starts the bundled demo MCP server on stdio: the
/// `vecgate-demo-server` binary, or `vecgate demo-server` where only the gateway is built.
pub fn demo_server_command() -> Result<Vec<String>, SupportError> {
    match binary("vecgate-demo-server") {
        Ok(path) => Ok(vec![path.display().to_string()]),
        Err(missing) => match vecgate() {
            Ok(gateway) => Ok(vec![
                gateway.display().to_string(),
                "demo-server".to_owned(),
            ]),
            Err(_) => Err(missing),
        },
    }
}

/// `tests/clients`, where the drivers, plans and the npm packages live.
pub fn clients_dir() -> PathBuf {
    workspace_root().join("tests").join("clients")
}

/// A plan file under `tests/clients/plans`.
pub fn plan(name: &str) -> PathBuf {
    clients_dir().join("plans").join(format!("{name}.json"))
}

/// A file that `scripts/install-test-deps` installs, which must exist.
fn installed(what: &str, path: PathBuf) -> Result<PathBuf, SupportError> {
    if path.exists() {
        Ok(path)
    } else {
        Err(SupportError::Missing {
            what: what.to_owned(),
            path,
            hint: HINT.to_owned(),
        })
    }
}

/// The Node.js that runs the TypeScript driver and the npm servers (`$VECGATE_NODE`, else `node`).
pub fn node() -> String {
    std::env::var("VECGATE_NODE").unwrap_or_else(|_| "node".to_owned())
}

/// The TypeScript driver script, with its npm dependencies installed.
pub fn ts_driver() -> Result<PathBuf, SupportError> {
    installed(
        "@modelcontextprotocol/sdk (tests/clients/node_modules)",
        clients_dir().join("node_modules/@modelcontextprotocol/sdk/package.json"),
    )?;
    installed("TypeScript driver", clients_dir().join("ts/driver.mjs"))
}

/// The Python driver script.
pub fn py_driver() -> Result<PathBuf, SupportError> {
    installed("Python driver", clients_dir().join("py/driver.py"))
}

/// The cache directory shared by the big test dependencies (`$VECGATE_CACHE`, else
/// `~/.cache/vecgate`).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VECGATE_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache").join("vecgate")
}

/// The Python interpreter of the venv holding `mcp` (`$VECGATE_TEST_PYTHON`, else the cached venv).
pub fn python() -> Result<PathBuf, SupportError> {
    let path = match std::env::var_os("VECGATE_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => cache_dir()
            .join(format!("venv-mcp-{PYTHON_MCP_VERSION}"))
            .join("bin")
            .join("python"),
    };
    installed(&format!("Python venv with mcp=={PYTHON_MCP_VERSION}"), path)
}

/// The entry script of `@modelcontextprotocol/server-everything` (run it with [`node`]).
pub fn server_everything() -> Result<PathBuf, SupportError> {
    installed(
        "@modelcontextprotocol/server-everything (tests/clients/node_modules)",
        clients_dir().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
    )
}

/// The directory holding claude-flow's node_modules (`$VECGATE_CLAUDE_FLOW_DIR`, else the cache).
pub fn claude_flow_dir() -> PathBuf {
    match std::env::var_os("VECGATE_CLAUDE_FLOW_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => cache_dir().join(format!("claude-flow-{CLAUDE_FLOW_VERSION}")),
    }
}

/// The `claude-flow` executable.
pub fn claude_flow() -> Result<PathBuf, SupportError> {
    installed(
        &format!("@claude-flow/cli@{CLAUDE_FLOW_VERSION}"),
        claude_flow_dir().join("node_modules/.bin/claude-flow"),
    )
}

/// The conformance runner script, when the conformance suite has been added to the repository.
pub fn conformance_script() -> Option<PathBuf> {
    let path = workspace_root().join("tests/conformance/run.sh");
    path.is_file().then_some(path)
}
