//! Every alert shape on real-shaped samples (data/samples), and the loader's error handling.

use std::path::PathBuf;

use soc_copilot::alert::{Severity, load_paths};

fn sample(name: &str) -> PathBuf {
    crate::common::repo().join("data/samples").join(name)
}

fn one(name: &str) -> soc_copilot::alert::Alert {
    let loaded = load_paths(&[sample(name)]);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.alerts.len(), 1);
    loaded
        .alerts
        .into_iter()
        .next()
        .map(|l| l.alert)
        .expect("one alert")
}

#[test]
fn elastic_security_alert() {
    let a = one("elastic-security-alert.json");
    assert_eq!(a.format, "elastic");
    assert_eq!(a.title, "Suspicious MS Office Child Process");
    assert_eq!(a.severity, Some(Severity::Medium));
    assert_eq!(a.host.as_deref(), Some("FIN-WS-042"));
    assert_eq!(a.user.as_deref(), Some("j.doe"));
    assert!(a.description.contains("parent process WINWORD.EXE"));
    assert!(a.id.starts_with("5c3a1d7e"));
    assert_eq!(a.timestamp.as_deref(), Some("2026-11-20T09:14:03.512Z"));
    assert!(
        a.iocs.processes.contains(&"WINWORD.EXE".to_string()),
        "{:?}",
        a.iocs.processes
    );
    assert!(a.iocs.command_lines[0].starts_with("powershell.exe -nop"));
    assert_eq!(
        a.iocs.sha256,
        ["de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c"]
    );
    assert_eq!(a.iocs.private_ips, ["10.20.4.42"]);
    assert!(a.field("process.command_line").is_some());
}

#[test]
fn splunk_notable_and_webhook() {
    let n = one("splunk-notable.json");
    assert_eq!(n.format, "splunk");
    assert_eq!(n.title, "Brute Force Access Behavior Detected");
    assert_eq!(
        n.severity,
        Some(Severity::High),
        "urgency wins over severity"
    );
    assert_eq!(n.host.as_deref(), Some("vpn-gw-01.corp.example.com"));
    assert_eq!(n.user.as_deref(), Some("svc_backup"));
    assert_eq!(n.iocs.public_ips, ["203.0.113.77"]);

    let w = one("splunk-webhook.json");
    assert_eq!(w.format, "splunk");
    assert_eq!(
        w.title,
        "ESCU - Windows Service Created With Suspicious Service Path - Rule"
    );
    assert_eq!(w.host.as_deref(), Some("DC02.corp.example.com"));
    assert_eq!(w.user.as_deref(), Some("CORP\\admin.tmp"));
    assert_eq!(w.field("Service_Name"), Some("WinDefendUpd"));
    assert!(w.id.starts_with("scheduler__admin"));
}

#[test]
fn wazuh_alert() {
    let a = one("wazuh-alert.json");
    assert_eq!(a.format, "wazuh");
    assert!(a.title.starts_with("sshd: brute force"));
    assert_eq!(a.severity, Some(Severity::High), "level 10 of 15");
    assert_eq!(a.host.as_deref(), Some("web-prod-03"));
    assert_eq!(a.user.as_deref(), Some("oracle"));
    assert!(a.description.contains("Invalid user oracle"));
    assert_eq!(a.iocs.public_ips, ["198.51.100.23"]);
    assert_eq!(a.iocs.private_ips, ["172.16.8.23"]);
}

#[test]
fn generic_json_and_plain_text() {
    let g = one("generic.json");
    assert_eq!(g.format, "generic-json");
    assert_eq!(g.title, "Impossible travel sign-in");
    assert_eq!(g.severity, Some(Severity::High));
    assert_eq!(g.iocs.emails, ["ceo@corp.example.com"]);
    assert_eq!(g.iocs.public_ips, ["81.2.69.142", "175.45.176.3"]);

    let t = one("plain-text.txt");
    assert_eq!(t.format, "plain-text");
    assert!(t.title.starts_with("Defanged beacon"));
    assert_eq!(t.iocs.urls, ["http://update-check.top/gate.php"]);
    assert_eq!(t.iocs.domains, ["update-check.top"]);
    assert_eq!(t.iocs.md5, ["44d88612fea8a8f36de82e1278abb02f"]);
    assert_eq!(t.iocs.private_ips, ["10.0.8.15"]);
}

#[test]
fn ndjson_with_a_bad_line_loads_the_rest() {
    let loaded = load_paths(&[sample("mixed.ndjson")]);
    assert_eq!(loaded.alerts.len(), 3);
    assert_eq!(loaded.errors.len(), 1);
    assert!(
        loaded.errors[0].origin.ends_with("mixed.ndjson:3"),
        "{}",
        loaded.errors[0]
    );
    let formats: Vec<&str> = loaded
        .alerts
        .iter()
        .map(|l| l.alert.format.as_str())
        .collect();
    assert_eq!(formats, ["alert-text", "soc-json", "wazuh"]);
    assert_eq!(loaded.alerts[0].alert.id, "n1");
    assert!(loaded.alerts[1].origin.ends_with("mixed.ndjson:2"));
}

#[test]
fn directories_load_every_file_and_report_bad_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(sample("wazuh-alert.json"), dir.path().join("a.json")).expect("copy");
    std::fs::write(dir.path().join("b.bin"), [0u8, 159, 146, 150, 0, 1, 2]).expect("write");
    std::fs::write(
        dir.path().join("c.json"),
        "[{\"alert_text\": \"one\"}, {\"alert_text\": \"two\"}]",
    )
    .expect("write");
    std::fs::write(dir.path().join(".hidden"), "ignored").expect("write");
    let loaded = load_paths(&[dir.path().to_path_buf()]);
    assert_eq!(loaded.alerts.len(), 3, "{:?}", loaded.errors);
    assert_eq!(loaded.errors.len(), 1);
    assert!(
        loaded.errors[0].origin.ends_with("b.bin") && loaded.errors[0].message.contains("binary")
    );
    assert!(loaded.alerts[2].origin.ends_with("c.json[1]"));
}

#[test]
fn a_huge_alert_is_refused_without_exhausting_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.ndjson");
    let huge = format!("{{\"alert_text\": \"{}\"}}\n", "A".repeat(50 * 1024 * 1024));
    std::fs::write(&path, format!("{huge}{{\"alert_text\": \"small one\"}}\n")).expect("write");
    let loaded = load_paths(&[path]);
    assert_eq!(
        loaded.alerts.len(),
        1,
        "the small alert after the huge one still loads"
    );
    assert_eq!(loaded.alerts[0].alert.title, "small one");
    assert_eq!(loaded.errors.len(), 1);
    assert!(loaded.errors[0].origin.ends_with("big.ndjson:1"));
    assert!(
        loaded.errors[0].message.contains("52.4 MB"),
        "{}",
        loaded.errors[0].message
    );

    let text = dir.path().join("big.txt");
    std::fs::write(&text, "x".repeat(3 * 1024 * 1024)).expect("write");
    let loaded = load_paths(&[text]);
    assert_eq!(loaded.alerts.len(), 1, "text is truncated, not refused");
    assert!(loaded.errors[0].message.contains("kept the first"));
}

#[test]
fn hostile_text_is_sanitised_on_the_way_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("evil.json");
    std::fs::write(
        &path,
        r#"{"title": "pwn\u001b]0;owned\u0007\u001b[2J", "description": "x\u001b[31mred", "raw_log": {"k": "\u009b6n"}}"#,
    )
    .expect("write");
    let a = &load_paths(&[path]).alerts[0].alert;
    assert_eq!(a.title, "pwn");
    assert_eq!(a.description, "xred");
    assert!(
        a.fields
            .iter()
            .all(|f| !f.value.chars().any(char::is_control))
    );
}
