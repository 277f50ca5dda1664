//! Which process runs a triage, so a run whose process died is closed as abandoned by the
//! next process that opens the store, and a run of a live process is left alone.
//!
//! A run's owner is `host:pid:start`, where `start` is the process's start time in clock
//! ticks since boot (`/proc/<pid>/stat`, field 22): a pid reused by a later process has a
//! different start time, so it is not taken for the owner.

use std::sync::OnceLock;

use super::{Store, StoreError, args, now};

/// Why a run was closed by a later process.
pub const ABANDONED: &str = "abandoned: the process running it stopped before it finished";

/// This process's owner string. `SOC_COPILOT_REPLICA` names the replica in place of the
/// host (a container's or pod's name): its runs and leases are then closed by their leases
/// running out, not by a process check on this host.
pub fn this_process() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        let host = std::env::var("SOC_COPILOT_REPLICA")
            .ok()
            .map(|r| r.trim().replace(':', "-"))
            .filter(|r| !r.is_empty())
            .map_or_else(hostname, |r| format!("replica-{r}"));
        format!(
            "{host}:{pid}:{}",
            start_ticks(pid).map_or_else(|| "?".into(), |t| t.to_string())
        )
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(':'))
        .unwrap_or_else(|| "localhost".into())
}

/// The start time of a running process, or `None` when it does not exist, has exited and
/// only awaits its parent (a zombie), or `/proc` is absent.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Whether the owner of a run is certainly gone. A run owned by another host, or whose
/// owner cannot be checked here, is treated as alive (only its own host can close it).
pub fn is_dead(owner: Option<&str>) -> bool {
    let Some(owner) = owner else {
        // Runs opened before owners were recorded: their process is long gone.
        return true;
    };
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return true;
    };
    if host != hostname() || !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return true;
    };
    match start_ticks(pid) {
        None => true,
        Some(t) => start != t.to_string(),
    }
}

impl Store {
    /// Closes as abandoned every run left `running` by a process that no longer exists, and
    /// returns how many. Runs on every open, so restarts, `--resume` and `history` never
    /// show an orphan; alerts that came from intake stay queued, so `serve` re-triages them.
    pub fn reap_abandoned(&mut self) -> Result<usize, StoreError> {
        let running: Vec<(String, Option<String>)> = self
            .db()
            .query(
                "SELECT id, owner FROM triages WHERE status = 'running'",
                args![],
            )?
            .iter()
            .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?)))
            .collect::<Result<_, _>>()?;
        let mut closed = 0;
        for (id, owner) in running {
            if is_dead(owner.as_deref()) {
                closed += self.db().execute(
                    "UPDATE triages SET status = 'abandoned', error = ?2, finished_at = ?3
                     WHERE id = ?1 AND status = 'running'",
                    args![id, ABANDONED, now()],
                )?;
            }
        }
        if closed > 0 {
            tracing::warn!(closed, "runs left by a stopped process closed as abandoned");
        }
        // Intake leases held by a process that is gone end now, not when they run out.
        let holders: Vec<String> = self
            .db()
            .query(
                "SELECT DISTINCT claimed_by FROM alerts WHERE intake = 'queued' AND lease_until IS NOT NULL",
                args![],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        for holder in holders {
            // Only a holder named like a process of this host can be checked; any other
            // (a replica name, another host) keeps its lease until it runs out.
            if holder.split(':').count() == 3 && is_dead(Some(&holder)) {
                self.db().execute(
                    "UPDATE alerts SET lease_until = NULL WHERE claimed_by = ?1 AND intake = 'queued'",
                    args![holder],
                )?;
            }
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_missing_pid_is_dead() {
        assert!(!is_dead(Some(this_process())));
        let host = hostname();
        // pid 0 has no /proc entry.
        assert!(is_dead(Some(&format!("{host}:0:1"))));
        // This pid with another start time is a reused pid, not the owner.
        let pid = std::process::id();
        assert!(is_dead(Some(&format!("{host}:{pid}:1"))));
        assert!(!is_dead(Some(&format!("elsewhere:{pid}:1"))));
        assert!(is_dead(None));
    }
}
