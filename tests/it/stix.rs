//! STIX parsing and catalog building on the hand-written fixture bundle.

use std::io::Write;

use soc_copilot::attack::catalog::ActorKind;
use soc_copilot::attack::stix::parse_bundle;
use soc_copilot::attack::{Catalog, Resolved, StixError, build_catalog, read_bundle};

use crate::common::fixture_bundle;

fn catalog() -> Catalog {
    build_catalog(&read_bundle(&fixture_bundle()).expect("fixture parses")).expect("catalog builds")
}

#[test]
fn active_techniques_only() {
    let c = catalog();
    let ids: Vec<&str> = c.techniques.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "T1003",
            "T1003.001",
            "T1053",
            "T1053.005",
            "T1059",
            "T1059.001"
        ]
    );
    assert_eq!(c.spec_version, "2.0");
    let counts = c.counts();
    assert_eq!((counts.techniques, counts.subtechniques), (3, 3));
}

#[test]
fn revoked_ids_resolve_transitively() {
    let c = catalog();
    assert_eq!(
        c.revoked.get("T1086").map(String::as_str),
        Some("T1059.001")
    );
    assert_eq!(
        c.revoked.get("T1085").map(String::as_str),
        Some("T1059.001"),
        "T1085 → T1086 → T1059.001"
    );
    match c.resolve("t1086") {
        Resolved::Revoked { from, to } => {
            assert_eq!(from, "T1086");
            assert_eq!(to.id, "T1059.001");
        }
        other => panic!("expected a revoked id, got {other:?}"),
    }
    assert!(
        matches!(c.resolve("T9999"), Resolved::Unknown(_)),
        "deprecated ids do not resolve"
    );
    assert!(matches!(c.resolve("T1059/001"), Resolved::Active(t) if t.id == "T1059.001"));
}

#[test]
fn subtechniques_know_their_parent() {
    let c = catalog();
    assert_eq!(
        c.get("T1059.001").and_then(|t| t.parent.as_deref()),
        Some("T1059")
    );
    assert_eq!(
        c.get("T1053.005").and_then(|t| t.parent.as_deref()),
        Some("T1053")
    );
    assert_eq!(c.get("T1059").and_then(|t| t.parent.as_deref()), None);
}

#[test]
fn relationships_are_attached_and_cleaned() {
    let c = catalog();
    let ps = c.get("T1059.001").expect("T1059.001");
    assert!(
        ps.description
            .contains("Adversaries may abuse PowerShell commands")
    );
    assert!(!ps.description.contains("Citation"));
    assert!(!ps.description.contains("https://"));
    assert_eq!(ps.url, "https://attack.mitre.org/techniques/T1059/001");

    assert_eq!(
        ps.mitigations.len(),
        1,
        "the deprecated mitigation is skipped"
    );
    assert_eq!(ps.mitigations[0].id, "M1038");
    assert_eq!(
        ps.mitigations[0].how,
        "Use application control to block PowerShell where not required."
    );

    assert_eq!(ps.detections.len(), 1);
    let analytic = &ps.detections[0].analytics[0];
    assert_eq!(analytic.id, "AN0001");
    assert_eq!(analytic.log_sources[0].name, "WinEventLog:Security");
    assert_eq!(analytic.log_sources[0].channel, "EventCode=4688");
    assert_eq!(
        analytic.log_sources[0].data_component.as_deref(),
        Some("Process Creation")
    );

    assert_eq!(ps.procedures.len(), 1);
    assert_eq!(ps.procedures[0].actor_name, "APT28");
    assert_eq!(ps.procedures[0].kind, ActorKind::Group);
    assert_eq!(
        ps.procedures[0].description,
        "APT28 has used PowerShell with -enc to run a downloader."
    );

    assert!(
        ps.artifacts
            .contains(&"powershell.exe -EncodedCommand".to_string())
    );
    assert!(
        ps.artifacts.contains(&"-enc".to_string()),
        "code spans from analytics and procedures too"
    );

    let cmd = c.get("T1059").expect("T1059");
    assert_eq!(
        cmd.procedures.len(),
        1,
        "the revoked group's relationship is skipped"
    );
    assert_eq!(cmd.procedures[0].kind, ActorKind::Campaign);
}

#[test]
fn tactics_follow_the_matrix_and_actors_list_their_techniques() {
    let c = catalog();
    let order: Vec<&str> = c.tactics.iter().map(|t| t.shortname.as_str()).collect();
    assert_eq!(order, ["execution", "persistence", "credential-access"]);
    let apt28 = c.actors.iter().find(|a| a.name == "APT28").expect("APT28");
    assert_eq!(
        apt28.techniques,
        ["T1059.001"],
        "deprecated relationship ignored"
    );
    assert!(apt28.aliases.contains(&"Fancy Bear".to_string()));
    assert!(
        !c.actors.iter().any(|a| a.name == "Old Group"),
        "revoked group skipped"
    );
    assert_eq!(c.groups_using("T1059.001").len(), 1);
    assert_eq!(
        c.tactic_names(c.get("T1053.005").expect("T1053.005")),
        ["Execution", "Persistence"]
    );
}

/// The fixture rewritten the way STIX 2.1 bundles are shaped: `spec_version` on every
/// object and a collection object carrying the ATT&CK release.
fn as_stix21() -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture_bundle()).expect("read fixture"))
            .expect("json");
    let obj = v.as_object_mut().expect("object");
    obj.remove("spec_version");
    let objects = obj
        .get_mut("objects")
        .and_then(|o| o.as_array_mut())
        .expect("objects");
    for o in objects.iter_mut() {
        o["spec_version"] = "2.1".into();
    }
    objects.push(
        serde_json::json!({"type": "x-mitre-collection", "id": "x-mitre-collection--1",
        "spec_version": "2.1", "name": "Enterprise ATT&CK", "x_mitre_version": "18.1"}),
    );
    serde_json::to_vec(&v).expect("serialise")
}

#[test]
fn stix_21_bundles_load_with_their_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("enterprise-attack.json");
    std::fs::write(&path, as_stix21()).expect("write");
    let c = build_catalog(&read_bundle(&path).expect("parses")).expect("builds");
    assert_eq!(c.spec_version, "2.1");
    assert_eq!(c.attack_version, "18.1");
    assert_eq!(c.techniques.len(), 6);
}

#[test]
fn gzip_is_detected_by_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Deliberately named .json: the magic bytes, not the extension, decide.
    let path = dir.path().join("bundle.json");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(fixture_bundle()).expect("read"))
        .expect("gzip");
    std::fs::write(&path, gz.finish().expect("finish")).expect("write");
    let bundle = read_bundle(&path).expect("gzip bundle parses");
    assert_eq!(build_catalog(&bundle).expect("builds").techniques.len(), 6);
    assert_eq!(bundle.sha256.len(), 64);
}

#[test]
fn malformed_input_gives_errors_naming_the_file() {
    let p = std::path::Path::new("/data/bad.json");
    let truncated = br#"{"type": "bundle", "objects": [{"type": "attack-pattern","#;
    let err = parse_bundle(p, truncated).expect_err("truncated JSON");
    assert!(matches!(err, StixError::Json { line: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("/data/bad.json"));

    let err = parse_bundle(p, br#"{"type": "report", "objects": []}"#).expect_err("not a bundle");
    assert!(matches!(err, StixError::NotABundle { .. }));
    assert!(err.to_string().contains("\"report\""), "{err}");

    let err = parse_bundle(p, br#"[1, 2, 3]"#).expect_err("array");
    assert!(matches!(err, StixError::NotABundle { .. }), "{err:?}");

    let no_techniques = br#"{"type": "bundle", "objects": [{"type": "x-mitre-tactic", "id": "x-mitre-tactic--1"}, 42]}"#;
    let bundle = parse_bundle(p, no_techniques).expect("parses");
    assert_eq!(
        bundle.skipped, 1,
        "a non-object entry is skipped, not fatal"
    );
    let err = build_catalog(&bundle).expect_err("no techniques");
    assert!(matches!(err, StixError::NoTechniques { .. }));
    assert!(err.to_string().contains("no active techniques"));

    let err = read_bundle(std::path::Path::new("/nonexistent/enterprise-attack.json"))
        .expect_err("missing");
    assert!(
        err.to_string()
            .contains("/nonexistent/enterprise-attack.json")
    );
}
