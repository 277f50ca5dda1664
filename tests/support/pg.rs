//! A throwaway PostgreSQL cluster for the team-store tests, from the distribution's packages
//! (`apt-get install postgresql`; `.ci/run` installs it): `initdb` in a temporary directory,
//! the server on a loopback port as a non-root user (`postgres` when the tests run as root),
//! one fresh database per test, and a watchdog that stops the server when the test process
//! exits. `SOC_COPILOT_TEST_PG` (an admin URL) uses a running server instead.
//!
//! No silent skip: without PostgreSQL these tests fail and say how to get it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

struct Cluster {
    /// Admin URL without a database name.
    base: String,
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(start) {
        Ok(c) => c,
        Err(why) => panic!(
            "PostgreSQL is needed for the team-store tests: {why}. Install the distribution's packages (apt-get install postgresql; .ci/run does), or set SOC_COPILOT_TEST_PG to an admin URL of a running server"
        ),
    }
}

/// A new, empty database on the test cluster; its URL.
pub fn database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let c = cluster();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&format!("{}/postgres", c.base), postgres::NoTls)
        .expect("the test cluster accepts connections");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("a test database is created");
    format!("{}/{name}", c.base)
}

fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    // The newest major version: "9.6" < "15" compares by number.
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().or_else(|| {
        let out = Command::new("pg_config").arg("--bindir").output().ok()?;
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        dir.join("initdb").is_file().then_some(dir)
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command as the server's user: `postgres` through runuser when we are root (initdb
/// refuses root).
fn as_server_user(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start() -> Result<Cluster, String> {
    if let Ok(url) = std::env::var("SOC_COPILOT_TEST_PG") {
        let base = url.trim_end_matches('/').to_string();
        let base = match base.rsplit_once('/') {
            Some((b, db)) if !b.ends_with('/') && !db.contains(':') => b.to_string(),
            _ => base,
        };
        return Ok(Cluster { base });
    }
    let bin = bin_dir().ok_or("no initdb under /usr/lib/postgresql/*/bin or from pg_config")?;
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("soc-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    if root {
        let ok = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("running as root, but the `postgres` user (created by the postgresql package) is missing".into());
        }
    }
    let data = dir.join("data");
    let init = as_server_user(root, &bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "soc",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !init.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr).trim()
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())?;
    let opts = format!(
        "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
        dir.display()
    );
    let started = as_server_user(root, &bin.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "-o", &opts, "start"])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("pg_ctl: {e}"))?;
    if !started.status.success() {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        return Err(format!(
            "the server did not start: {} {}",
            String::from_utf8_lossy(&started.stderr).trim(),
            log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
        ));
    }
    // Stops the server (and removes its files) once this test process has exited.
    let stop = if root {
        format!(
            "runuser -u postgres -- {} -D {} stop -m immediate",
            bin.join("pg_ctl").display(),
            data.display()
        )
    } else {
        format!(
            "{} -D {} stop -m immediate",
            bin.join("pg_ctl").display(),
            data.display()
        )
    };
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    Ok(Cluster {
        base: format!("postgres://soc@127.0.0.1:{port}"),
    })
}
