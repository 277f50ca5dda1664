//! The real binary in a real terminal: tmux runs the console on the sample queue; keys go in
//! with `send-keys`, the screen comes back with `capture-pane`. Triage one alert offline,
//! give feedback, open help, quit — then check the screen, the window title and the store.

use std::process::Command;
use std::time::{Duration, Instant};

use soc_copilot::store::Store;
use soc_copilot::store::feedback::Thumbs;

use crate::common::{fixture_bundle, ingest_into, repo};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "e2e", k]);
            // Esc followed at once by a key reads as Alt-key; real typing has gaps.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[test]
fn console_in_tmux_triage_feedback_help_quit() {
    // No silent skip: without tmux this test fails and says how to get it.
    assert!(
        Command::new("tmux").arg("-V").output().is_ok(),
        "tmux is required for the console's end-to-end test: install it (apt-get install tmux; .ci/run does)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    ingest_into(&fixture_bundle(), dir.path(), Err("BM25 only".into()));
    let bin = env!("CARGO_BIN_EXE_soc-copilot");
    let tmux = Tmux {
        socket: format!("soc-e2e-{}", std::process::id()),
    };
    let cmd = format!(
        "cd '{}' && env NO_COLOR=1 SOC_COPILOT_MODEL_DIR=/nonexistent '{}' --data-dir '{}' tui --engine offline data/queue; echo CONSOLE-EXITED $?; sleep 60",
        repo().display(),
        bin,
        dir.path().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "120",
        "-y",
        "36",
        &cmd,
    ]);

    let s = tmux.wait_for("the queue", |s| {
        s.contains("alerts loaded") && s.contains("Encoded PowerShell")
    });
    assert!(s.contains("Queue 25"), "{s}");

    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("the offline verdict", |s| s.contains("Verdict "));
    assert!(
        s.contains("Reasoning · offline"),
        "the offline engine says so:\n{s}"
    );

    tmux.keys(&["+"]);
    tmux.wait_for("the feedback confirmation", |s| {
        s.contains("thumbs up recorded")
    });

    tmux.keys(&["?"]);
    let s = tmux.wait_for("help", |s| s.contains("Keys (? or Esc closes)"));
    assert!(s.contains("thumbs_up") && s.contains("triage_all"), "{s}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("help to close", |s| !s.contains("Keys (? or Esc closes)"));

    // The hostile alert (next to last in the queue) tried to set the window title.
    tmux.keys(&["G", "k"]);
    let s = tmux.wait_for("the last alert", |s| s.contains("Suspicious User-Agent"));
    assert!(!s.contains("owned"), "{s}");
    let title = tmux.run(&["display-message", "-p", "-t", "e2e", "#{pane_title}"]);
    assert!(
        !title.contains("owned"),
        "window title changed to {title:?}"
    );

    tmux.keys(&["q"]);
    let s = tmux.wait_for("the console to exit", |s| s.contains("CONSOLE-EXITED"));
    assert!(s.contains("CONSOLE-EXITED 0"), "{s}");

    let store = Store::open_in(dir.path()).expect("store");
    let triages = store.recent_triages(10).expect("triages");
    assert_eq!(triages.len(), 1);
    assert_eq!(triages[0].engine, "offline");
    let fb = store.feedback_for(&triages[0].id).expect("feedback");
    assert_eq!(fb.len(), 1);
    assert_eq!(fb[0].thumbs, Thumbs::Up);
}
