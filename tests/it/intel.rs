//! Offline threat intelligence and the investigation's memory: feeds in each published
//! format, the IOC index (filled on write, backfilled by the migration), IOC history and
//! related alerts, the offline engine moved by intel, and the `intel`/`enrich` commands.

use std::path::Path;

use soc_copilot::alert::parse::from_text;
use soc_copilot::attack::Catalog;
use soc_copilot::intel::enrich::{Enrichment, Limits, enrich};
use soc_copilot::intel::import::{Options, read};
use soc_copilot::intel::{Indicator, IntelRecord, Kind, Verdict};
use soc_copilot::store::feedback::NewFeedback;
use soc_copilot::store::{NewTriage, Store, Thumbs, TriageStatus, new_id};
use soc_copilot::triage::Level;
use soc_copilot::triage::offline::{OfflineInput, triage};

use crate::cli::soc;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

const FEODO_CSV: &str = r#"################################################################
# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)           #
# Last updated: 2026-11-30 10:01:12 UTC                         #
################################################################
#
# "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"
"2026-10-02 14:12:05","185.220.101.47","443","online","2026-11-30","QakBot"
"2026-10-03 09:00:00","50.16.16.211","8080","offline","2026-11-02","Emotet"
"2026-10-03 09:00:00","not-an-ip","8080","offline","2026-11-02","Emotet"
# END 3 entries
"#;

const URLHAUS_CSV: &str = r#"################################################################
# abuse.ch URLhaus Database Dump (CSV - recent URLs only)       #
################################################################
#
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
"3170001","2026-11-30 09:12:03","http://malware.example.net/bins/x86","online","2026-11-30 09:12:03","malware_download","elf,mirai","https://urlhaus.abuse.ch/url/3170001/","anonymous"
"3170002","2026-11-30 09:13:44","https://evil-cdn.example.org/invoice.zip","online","2026-11-30 09:13:44","malware_download","zip","https://urlhaus.abuse.ch/url/3170002/","anonymous"
"#;

const THREATFOX_CSV: &str = r#"################################################################
# ThreatFox IOCs: CSV export                                    #
################################################################
#
# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware","malware_alias","malware_printable","last_seen_utc","confidence_level","reference","tags","anonymous","reporter"
"2026-11-29 18:00:01", "1400001", "91.92.240.10:4444", "ip:port", "botnet_cc", "win.cobalt_strike", "Agentemis", "Cobalt Strike", "", "100", "https://example.org/report", "CobaltStrike", "0", "analyst1"
"2026-11-29 18:05:01", "1400002", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256_hash", "payload", "win.lumma", "", "Lumma Stealer", "", "75", "", "Lumma", "0", "analyst2"
"#;

const THREATFOX_JSON: &str = r#"{
  "1400003": [{"ioc_value": "bad-domain.example.com", "ioc_type": "domain", "threat_type": "botnet_cc",
               "malware": "win.asyncrat", "malware_printable": "AsyncRAT", "first_seen_utc": "2026-11-28 10:00:00",
               "last_seen_utc": null, "confidence_level": 100, "reference": null, "tags": "AsyncRAT",
               "anonymous": "0", "reporter": "someone"}],
  "1400004": [{"ioc_value": "", "ioc_type": "domain"}]
}"#;

const FEODO_JSON: &str = r#"[
  {"ip_address": "162.243.103.246", "port": 8080, "status": "offline", "hostname": null,
   "as_number": 14061, "as_name": "DIGITALOCEAN-ASN", "country": "US",
   "first_seen": "2026-09-01 12:00:00", "last_online": "2026-10-01", "malware": "Dridex"}
]"#;

fn misp_feed(dir: &Path) -> std::path::PathBuf {
    let feed = dir.join("circl-osint");
    std::fs::create_dir_all(&feed).expect("dir");
    let uuid = "5f1a2b3c-0000-4000-8000-00000000abcd";
    write(
        &feed,
        "manifest.json",
        &format!(
            r#"{{"{uuid}": {{"info": "Phishing campaign", "date": "2026-11-20", "threat_level_id": 2}}, "../../etc/passwd": {{}}}}"#
        ),
    );
    write(
        &feed,
        &format!("{uuid}.json"),
        r#"{"Event": {"info": "Phishing campaign delivering AgentTesla", "date": "2026-11-20",
            "Attribute": [
              {"type": "domain", "value": "login-micros0ft.example.com", "to_ids": true},
              {"type": "ip-dst|port", "value": "203.0.113.77|443", "to_ids": true},
              {"type": "comment", "value": "not an indicator", "to_ids": false},
              {"type": "url", "value": "http://context.example.com/", "to_ids": false}
            ],
            "Object": [{"name": "file", "Attribute": [
              {"type": "filename|sha256", "value": "invoice.exe|2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "to_ids": true}
            ]}]}}"#,
    );
    feed
}

#[test]
fn every_published_feed_format_imports_and_bad_entries_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let opts = Options::default();

    let got = read(&write(d, "ipblocklist.csv", FEODO_CSV), &opts).expect("feodo csv");
    assert_eq!(
        (got.format.as_str(), got.source.as_str()),
        ("feodo-csv", "feodotracker")
    );
    assert_eq!(got.records.len(), 2);
    assert_eq!(
        got.records[0].indicator,
        Indicator::new(Kind::Ip, "185.220.101.47")
    );
    assert_eq!(got.records[0].threat.as_deref(), Some("QakBot"));
    assert_eq!(got.skipped.len(), 1);
    assert!(
        got.skipped[0].contains("ipblocklist.csv:9"),
        "{:?}",
        got.skipped
    );

    let got = read(&write(d, "csv.txt", URLHAUS_CSV), &opts).expect("urlhaus");
    assert_eq!(got.format, "urlhaus-csv");
    assert_eq!(got.records.len(), 2);
    assert_eq!(got.records[0].indicator.kind, Kind::Url);
    assert!(
        got.records[0]
            .threat
            .as_deref()
            .is_some_and(|t| t.contains("mirai"))
    );

    let got = read(&write(d, "full.csv", THREATFOX_CSV), &opts).expect("threatfox csv");
    assert_eq!(got.format, "threatfox-csv");
    let kinds: Vec<Kind> = got.records.iter().map(|r| r.indicator.kind).collect();
    assert_eq!(kinds, vec![Kind::Ip, Kind::Sha256]);
    assert_eq!(
        got.records[0].indicator.value, "91.92.240.10",
        "ip:port keeps the address"
    );
    assert_eq!(got.records[0].threat.as_deref(), Some("Cobalt Strike"));

    let got = read(&write(d, "full.json", THREATFOX_JSON), &opts).expect("threatfox json");
    assert_eq!(got.format, "threatfox-json");
    assert_eq!(got.records.len(), 1);
    assert_eq!(got.skipped.len(), 1);

    let got = read(&write(d, "ipblocklist.json", FEODO_JSON), &opts).expect("feodo json");
    assert_eq!(got.format, "feodo-json");
    assert_eq!(got.records[0].threat.as_deref(), Some("Dridex"));

    let got = read(&misp_feed(d), &opts).expect("misp");
    assert_eq!(got.format, "misp-feed");
    assert_eq!(got.source, "misp:circl-osint");
    let mut values: Vec<String> = got
        .records
        .iter()
        .map(|r| r.indicator.to_string())
        .collect();
    values.sort();
    assert_eq!(
        values,
        vec![
            "domain login-micros0ft.example.com",
            "ip 203.0.113.77",
            "sha256 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        ],
        "to_ids attributes only, composite values split"
    );
    assert!(
        got.skipped.iter().any(|s| s.contains("not an event UUID")),
        "a manifest key is never a path: {:?}",
        got.skipped
    );

    let list = write(
        d,
        "scanners.txt",
        "# research scanners\n198.51.100.7 shodan\n198.51.100.8\nnot an ioc\n",
    );
    let got = read(
        &list,
        &Options {
            source: Some("internal-allowlist".into()),
            verdict: Some(Verdict::Benign),
        },
    )
    .expect("list");
    assert_eq!(got.format, "list");
    assert_eq!(got.records.len(), 2);
    assert!(got.records.iter().all(|r| r.verdict == Verdict::Benign));
    assert_eq!(got.records[0].threat.as_deref(), Some("shodan"));
    assert!(
        got.skipped[0].contains("scanners.txt:4"),
        "{:?}",
        got.skipped
    );

    let err = read(&write(d, "other.json", r#"{"hello": "world"}"#), &opts).expect_err("unknown");
    assert!(err.to_string().contains("other.json"), "{err}");
    let err = read(&write(d, "broken.json", "{\"a\": "), &opts).expect_err("broken");
    assert!(err.to_string().contains("broken.json") && err.to_string().contains("not valid JSON"));
    let err = read(d, &opts).expect_err("a directory without a manifest");
    assert!(err.to_string().contains("manifest.json"), "{err}");
}

fn stored(s: &mut Store, text: &str) -> (String, i64) {
    let alert = from_text(text, None);
    let row = s.upsert_alert(&alert, text, None).expect("alert");
    (alert.id, row)
}

fn judged(s: &mut Store, row: i64, tool: &str, analyst: &str) {
    let id = new_id();
    s.start_triage(&id, row, "offline", None).expect("start");
    s.finish_triage(
        &NewTriage {
            id: id.clone(),
            alert_row: row,
            engine: "offline".into(),
            verdict: Some(tool.into()),
            confidence: Some(0.7),
            verdict_json: Some("{}".into()),
            ..Default::default()
        },
        TriageStatus::Complete,
    )
    .expect("finish");
    s.add_feedback(&NewFeedback {
        triage_id: id,
        thumbs: Some(Thumbs::Down),
        analyst_verdict: Some(analyst.into()),
        analyst: "ann".into(),
        ..NewFeedback::default()
    })
    .expect("feedback");
}

#[test]
fn ioc_history_and_related_alerts_come_from_the_store_and_old_stores_are_backfilled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Store::open_in(dir.path()).expect("open");
    let (_, first) = stored(
        &mut s,
        "Outbound beacon to 185.220.101.47\nhost FIN-WS-042 contacted 185.220.101.47 over 443",
    );
    judged(&mut s, first, "MEDIUM", "HIGH");
    let (_, _) = stored(&mut s, "Unrelated login\nfrom 198.51.100.200");
    let (second, _) = stored(
        &mut s,
        "Another connection to 185.220.101.47\nseen from a different host",
    );
    let ind = Indicator::new(Kind::Ip, "185.220.101.47");
    let h = s.ioc_history(&ind, &second, 10).expect("history");
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].verdict.as_deref(), Some("MEDIUM"));
    assert_eq!(h[0].analyst_verdict.as_deref(), Some("HIGH"));
    let rel = s.related_alerts(&second, 24.0, 10).expect("related");
    assert_eq!(rel.len(), 1, "{rel:?}");
    assert!(
        rel[0].why.iter().any(|w| w == "shares ip 185.220.101.47"),
        "{rel:?}"
    );
    assert!(s.related_alerts(&second, 0.0, 10).is_ok());

    // A store from before the index: the migration backfills it from the stored alerts.
    drop(s);
    {
        let c = rusqlite::Connection::open(dir.path().join("soc-copilot.db")).expect("raw");
        c.execute_batch(
            "DROP TABLE alert_iocs; DROP TABLE intel_indicators; DROP TABLE intel_cache;
             DROP INDEX alerts_created;
             DROP TABLE incident_alerts; DROP TABLE incident_pairs; DROP TABLE incidents;
             DROP TABLE exports; DROP TABLE pseudonyms; DROP TABLE closures;
             DROP TABLE alert_claims; DROP TABLE claim_log; DROP TABLE events;
             ALTER TABLE alerts DROP COLUMN claimed_by; ALTER TABLE alerts DROP COLUMN lease_until;
             PRAGMA user_version = 4;",
        )
        .expect("downgrade");
    }
    let s = Store::open_in(dir.path()).expect("reopen migrates");
    assert_eq!(s.ioc_history(&ind, "none", 10).expect("history").len(), 2);
}

#[test]
fn intel_moves_the_offline_verdict_and_the_reasoning_names_the_lookup() {
    let alert = from_text(
        "Outbound connection to 185.220.101.47\nprocess svchost.exe connected to 185.220.101.47:443",
        None,
    );
    let catalog = Catalog::empty("18.1");
    let run = |e: &Enrichment| {
        triage(&OfflineInput {
            alert: &alert,
            hits: &[],
            similar: &[],
            catalog: &catalog,
            injection_flags: &[],
            enrichment: e,
        })
    };
    let none = run(&Enrichment::default());
    let ind = Indicator::new(Kind::Ip, "185.220.101.47");
    let record = |v: Verdict| IntelRecord {
        indicator: ind.clone(),
        source: "feodotracker".into(),
        verdict: v,
        threat: Some("QakBot".into()),
        first_seen: None,
        reference: None,
    };
    let bad = run(&Enrichment {
        indicators: vec![ind.clone()],
        intel: vec![record(Verdict::Malicious)],
        ..Enrichment::default()
    });
    assert!(
        bad.verdict > none.verdict,
        "{:?} vs {:?}",
        bad.verdict,
        none.verdict
    );
    assert!(
        bad.reasoning
            .contains("intel lookup: ip 185.220.101.47 is malicious per feodotracker (QakBot)"),
        "{}",
        bad.reasoning
    );
    assert!(bad.evidence.iter().any(|e| e.source == "intel"));
    let benign = run(&Enrichment {
        indicators: vec![ind.clone()],
        intel: vec![record(Verdict::Benign)],
        ..Enrichment::default()
    });
    assert!(benign.verdict <= none.verdict);
    assert!(
        benign
            .reasoning
            .contains("every external indicator is known benign")
    );
    assert!(benign.verdict < bad.verdict || benign.verdict == Level::Benign);
}

#[test]
fn intel_import_lookup_and_enrich_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let feed = write(d, "ipblocklist.csv", FEODO_CSV);
    let o = soc(d, &["intel", "import", feed.to_str().expect("utf-8")]);
    let (out, err) = crate::cli::text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("2 indicators from feodotracker (feodo-csv); 1 entries skipped"),
        "{out}"
    );
    assert!(err.contains("ipblocklist.csv:9"), "{err}");

    let o = soc(d, &["intel", "lookup", "185.220.101[.]47"]);
    let (out, _) = crate::cli::text(&o);
    assert!(
        out.contains("offline intel (feodotracker): malicious — QakBot"),
        "{out}"
    );

    let alerts = write(
        d,
        "alerts.ndjson",
        r#"{"title": "Beacon to C2", "description": "powershell.exe connected to 185.220.101.47:443", "host": "FIN-WS-042"}"#,
    );
    let o = soc(d, &["enrich", alerts.to_str().expect("utf-8")]);
    let (out, err) = crate::cli::text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("offline intel (feodotracker): ip 185.220.101.47 is malicious — QakBot"),
        "{out}"
    );
    let o = soc(d, &["enrich", "--json", alerts.to_str().expect("utf-8")]);
    let (out, _) = crate::cli::text(&o);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["enrichment"]["intel"][0]["source"], "feodotracker");

    let o = soc(
        d,
        &[
            "intel",
            "import",
            d.join("missing.csv").to_str().expect("utf-8"),
        ],
    );
    let (_, err) = crate::cli::text(&o);
    assert!(!o.status.success() && err.contains("missing.csv"), "{err}");
    let o = soc(d, &["intel", "lookup", "not an indicator"]);
    assert!(!o.status.success());
}

#[test]
fn enrichment_is_bounded_and_says_what_it_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open_in(dir.path()).expect("open");
    let ips: Vec<String> = (1..=12).map(|i| format!("8.8.{i}.1")).collect();
    let alert = from_text(&format!("Scan\n{}", ips.join(" ")), None);
    let limits = Limits {
        indicators: 5,
        ..Limits::default()
    };
    let e = enrich(&s, &alert, limits).expect("enrich");
    let n = soc_copilot::intel::indicators(&alert.iocs).len();
    assert!(n > 5, "{n}");
    assert_eq!(e.indicators.len(), 5);
    assert_eq!(e.not_looked_up, n - 5);
}

mod remote {
    use std::sync::Arc;

    use soc_copilot::config::Config;
    use soc_copilot::intel::remote::{Investigator, Lookup, Outcome};
    use soc_copilot::intel::{Indicator, Kind, Verdict};
    use soc_copilot::store::StorePool;

    use crate::support::intel::*;

    fn config(server: &IntelServer) -> Config {
        crate::support::intel::config(&server.base())
    }

    fn find<'a>(ls: &'a [Lookup], provider: &str, value: &str) -> &'a Lookup {
        ls.iter()
            .find(|l| l.provider == provider && l.indicator.value == value)
            .unwrap_or_else(|| panic!("no {provider} lookup of {value}: {ls:#?}"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_provider_in_its_wire_format_routed_by_kind_and_cached() {
        let server = IntelServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = Arc::new(StorePool::new(dir.path().to_path_buf()));
        let inv = Investigator::from_config(&config(&server).intel, stores).expect("providers");
        let inds = vec![
            Indicator::new(Kind::Ip, BAD_IP),
            Indicator::new(Kind::Ip, SCANNER_IP),
            Indicator::new(Kind::Domain, BAD_DOMAIN),
            Indicator::new(Kind::Sha256, BAD_SHA256),
            Indicator::new(Kind::Url, "http://clean.example.org/x"),
            Indicator::new(Kind::Url, BAD_URL),
        ];
        let ls = inv.investigate(&inds).await;
        // Routed by kind: an IP goes to 8 providers, a domain or URL to 5 (VirusTotal,
        // ThreatFox, URLhaus, OTX, urlscan), a hash to 4 (VirusTotal, ThreatFox,
        // MalwareBazaar, OTX).
        assert_eq!(ls.len(), 2 * 8 + 5 + 4 + 2 * 5, "{ls:#?}");
        assert_eq!(
            find(&ls, "urlhaus", BAD_URL).verdict(),
            Some(Verdict::Malicious)
        );
        assert!(
            find(&ls, "urlhaus", BAD_URL)
                .line()
                .contains("online URL, malware_download")
        );
        assert!(
            find(&ls, "urlhaus", BAD_DOMAIN)
                .line()
                .contains("host with 2 malware URL(s)")
        );
        assert_eq!(find(&ls, "urlhaus", BAD_IP).outcome, Outcome::NotFound);
        assert!(
            find(&ls, "malwarebazaar", BAD_SHA256)
                .line()
                .contains("AgentTesla")
        );
        assert_eq!(
            find(&ls, "otx", BAD_DOMAIN).verdict(),
            Some(Verdict::Malicious)
        );
        assert!(
            find(&ls, "otx", BAD_DOMAIN)
                .line()
                .contains("in 7 OTX pulse(s): Tor exit nodes")
        );
        assert_eq!(find(&ls, "otx", SCANNER_IP).verdict(), None);
        assert!(
            find(&ls, "urlscan", BAD_DOMAIN)
                .line()
                .contains("2 public scan(s), 1 flagged malicious")
        );
        assert_eq!(find(&ls, "urlscan", SCANNER_IP).outcome, Outcome::NotFound);
        assert_eq!(
            find(&ls, "abuseipdb", BAD_IP).verdict(),
            Some(Verdict::Malicious)
        );
        assert!(
            find(&ls, "abuseipdb", BAD_IP)
                .line()
                .contains("abuse confidence 100 % from 1742 reports")
        );
        assert_eq!(
            find(&ls, "abuseipdb", SCANNER_IP).verdict(),
            Some(Verdict::Benign)
        );
        assert_eq!(
            find(&ls, "greynoise", SCANNER_IP).verdict(),
            Some(Verdict::Benign)
        );
        assert!(
            find(&ls, "greynoise", SCANNER_IP)
                .line()
                .contains("Shodan.io")
        );
        assert_eq!(find(&ls, "greynoise", BAD_IP).outcome, Outcome::NotFound);
        assert_eq!(
            find(&ls, "virustotal", BAD_SHA256).verdict(),
            Some(Verdict::Malicious)
        );
        assert!(
            find(&ls, "virustotal", BAD_DOMAIN)
                .line()
                .contains("14/94 engines")
        );
        assert_eq!(
            find(&ls, "virustotal", "http://clean.example.org/x").outcome,
            Outcome::NotFound
        );
        assert_eq!(
            find(&ls, "threatfox", BAD_DOMAIN).verdict(),
            Some(Verdict::Malicious)
        );
        assert!(
            find(&ls, "threatfox", BAD_DOMAIN)
                .line()
                .contains("AsyncRAT")
        );
        assert_eq!(
            find(&ls, "threatfox", BAD_SHA256).outcome,
            Outcome::NotFound
        );
        assert!(
            find(&ls, "shodan", BAD_IP)
                .line()
                .contains("CVE-2023-38408")
        );
        assert_eq!(find(&ls, "shodan", SCANNER_IP).outcome, Outcome::NotFound);

        // The wire: keys in each provider's header, the URL id as unpadded base64url.
        let seen = server.seen();
        let get = |prefix: &str| {
            seen.iter()
                .find(|s| s.path.starts_with(prefix))
                .unwrap_or_else(|| panic!("no request to {prefix}"))
        };
        assert_eq!(
            get("/api/v2/check").headers.get("key").map(String::as_str),
            Some(KEY)
        );
        assert!(get("/api/v2/check").path.contains("maxAgeInDays=90"));
        assert_eq!(
            get("/api/v3/").headers.get("x-apikey").map(String::as_str),
            Some(KEY)
        );
        assert!(
            seen.iter()
                .any(|s| s.path == "/api/v3/urls/aHR0cDovL2NsZWFuLmV4YW1wbGUub3JnL3g")
        );
        let tf = seen
            .iter()
            .find(|s| s.path == "/api/v1/" && s.body.contains("search_ioc"))
            .expect("threatfox");
        assert_eq!(tf.method, "POST");
        assert_eq!(tf.headers.get("auth-key").map(String::as_str), Some(KEY));
        assert!(tf.body.contains("\"search_ioc\""));
        // OTX: the URL is one percent-encoded path segment; urlscan: a search, never a scan.
        assert!(
            seen.iter().any(|s| s.path
                == "/api/v1/indicators/url/http:%2F%2Fmalware.example.net%2Fbins%2Fx86/general"),
            "{:#?}",
            seen.iter().map(|s| &s.path).collect::<Vec<_>>()
        );
        assert!(seen.iter().all(|s| !s.path.contains("/scan")));
        assert!(
            seen.iter()
                .filter(|s| s.path.starts_with("/api/v1/search/"))
                .all(|s| s.method == "GET"
                    && s.headers.get("api-key").map(String::as_str) == Some(KEY))
        );
        let mb = seen
            .iter()
            .find(|s| s.body.contains("get_info"))
            .expect("malwarebazaar");
        assert!(mb.body.contains(&format!("hash={BAD_SHA256}")));

        // Asked again: every answer, negative ones too, comes from the cache.
        let before = server.seen().len();
        let again = inv.investigate(&inds).await;
        assert_eq!(server.seen().len(), before, "no request the second time");
        assert!(again.iter().all(|l| l.cached_secs.is_some()), "{again:#?}");
        assert!(
            find(&again, "shodan", SCANNER_IP)
                .line()
                .contains("(cached")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limits_keys_and_bad_answers_are_reported_never_as_clean() {
        let server = IntelServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = Arc::new(StorePool::new(dir.path().to_path_buf()));
        let mut c = config(&server);
        for p in [
            &mut c.intel.virustotal,
            &mut c.intel.greynoise,
            &mut c.intel.shodan,
            &mut c.intel.threatfox,
            &mut c.intel.urlhaus,
            &mut c.intel.malwarebazaar,
            &mut c.intel.otx,
            &mut c.intel.urlscan,
        ] {
            p.enabled = Some(false);
        }
        let inv = Investigator::from_config(&c.intel, stores.clone()).expect("abuseipdb");
        assert_eq!(inv.names(), vec!["abuseipdb"]);

        // 429 with Retry-After: 1 → waits, asks again, answers.
        let ls = inv
            .investigate(&[Indicator::new(Kind::Ip, LIMITED_IP)])
            .await;
        assert!(matches!(ls[0].outcome, Outcome::Found { .. }), "{ls:?}");
        assert_eq!(
            server
                .seen()
                .iter()
                .filter(|s| s.path.contains(LIMITED_IP))
                .count(),
            2
        );
        // 429 with an hour to wait: reported as a limit, not as clean, and not cached.
        let ls = inv
            .investigate(&[Indicator::new(Kind::Ip, EXHAUSTED_IP)])
            .await;
        assert!(
            matches!(&ls[0].outcome, Outcome::BudgetExhausted(w) if w.contains("429")),
            "{ls:?}"
        );
        assert_eq!(ls[0].verdict(), None);
        // A body that is not JSON.
        let ls = inv
            .investigate(&[Indicator::new(Kind::Ip, MALFORMED_IP)])
            .await;
        assert!(
            matches!(&ls[0].outcome, Outcome::Failed(w) if w.contains("malformed")),
            "{ls:?}"
        );

        // Our own budget: two a minute, no waiting → the third is reported as exhausted.
        c.intel.abuseipdb.per_minute = 2;
        c.intel.max_wait_secs = 0;
        let inv = Investigator::from_config(&c.intel, stores.clone()).expect("abuseipdb");
        let ips: Vec<Indicator> = (1..=3)
            .map(|i| Indicator::new(Kind::Ip, &format!("8.8.4.{i}")))
            .collect();
        let ls = inv.investigate(&ips).await;
        let exhausted = ls
            .iter()
            .filter(|l| matches!(&l.outcome, Outcome::BudgetExhausted(w) if w.contains("2 requests a minute")))
            .count();
        assert_eq!(exhausted, 1, "{ls:#?}");

        // A wrong key: refused, named as such, and the key never shows.
        c.intel.abuseipdb.key = Some(soc_copilot::config::Secret("wrong-key-abcdef".into()));
        c.intel.abuseipdb.per_minute = 100;
        let inv = Investigator::from_config(&c.intel, stores).expect("abuseipdb");
        let ls = inv
            .investigate(&[Indicator::new(Kind::Ip, "8.8.8.8")])
            .await;
        let line = ls[0].line();
        assert!(line.contains("refused the key"), "{line}");
        assert!(
            !line.contains("wrong-key-abcdef") && !format!("{ls:?}").contains("wrong-key-abcdef")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_provider_is_reported_as_such_and_not_cached() {
        let server = IntelServer::start();
        server.delay(2_500);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config(&server);
        c.intel.timeout_secs = 1;
        let inv =
            Investigator::from_config(&c.intel, Arc::new(StorePool::new(dir.path().to_path_buf())))
                .expect("providers");
        let ls = inv
            .investigate(&[Indicator::new(Kind::Domain, BAD_DOMAIN)])
            .await;
        assert_eq!(ls.len(), 5);
        assert!(
            ls.iter().all(
                |l| matches!(&l.outcome, Outcome::Failed(w) if w.contains("no answer within 1 s"))
            ),
            "{ls:#?}"
        );
        server.delay(0);
        let ls = inv
            .investigate(&[Indicator::new(Kind::Domain, BAD_DOMAIN)])
            .await;
        assert!(
            ls.iter()
                .all(|l| l.cached_secs.is_none() && l.verdict() == Some(Verdict::Malicious))
        );
    }

    #[test]
    fn no_key_no_provider_and_keyless_ones_are_opt_in() {
        let c = Config::defaults();
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = Arc::new(StorePool::new(dir.path().to_path_buf()));
        assert!(Investigator::from_config(&c.intel, stores.clone()).is_none());
        let mut c = c;
        c.intel.shodan.enabled = Some(true);
        let inv = Investigator::from_config(&c.intel, stores).expect("shodan");
        assert_eq!(inv.names(), vec!["shodan"]);
    }

    /// The pipeline runs the lookups, reports each, and the offline engine's score moves
    /// with them, naming the lookup.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pipeline_runs_remote_lookups_and_the_offline_verdict_names_them() {
        let server = IntelServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        crate::common::ingest_into(
            &crate::common::fixture_bundle(),
            dir.path(),
            Err("BM25 only".into()),
        );
        let kb = soc_copilot::search::KnowledgeBase::open(
            &soc_copilot::search::ingest::locate(dir.path()),
            None,
        )
        .expect("kb");
        let stores = Arc::new(StorePool::new(dir.path().to_path_buf()));
        let c = config(&server);
        let p = soc_copilot::triage::Pipeline {
            kb: Arc::new(kb),
            intel: Investigator::from_config(&c.intel, stores.clone()).map(Arc::new),
            stores,
            engine: Arc::new(soc_copilot::triage::OfflineEngine),
            params: soc_copilot::triage::TriageParams::default(),
        };
        let text =
            format!("Outbound connection to {BAD_IP}\nsvchost.exe connected to {BAD_IP}:9001");
        let alert = soc_copilot::alert::load::LoadedAlert {
            alert: soc_copilot::alert::parse::from_text(&text, None),
            raw: text.clone(),
            origin: "test".into(),
        };
        let mut warnings = Vec::new();
        let mut obs = |e: soc_copilot::triage::events::Event| {
            if let soc_copilot::triage::events::Event::Warning(w) = e {
                warnings.push(w);
            }
        };
        let out = p
            .run(soc_copilot::triage::Request::new(Arc::new(alert)), &mut obs)
            .await
            .expect("triage");
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("intel lookup abuseipdb ip 185.220.101.47")),
            "{warnings:#?}"
        );
        assert!(
            out.verdict
                .reasoning
                .contains("intel lookup: ip 185.220.101.47 is malicious per abuseipdb"),
            "{}",
            out.verdict.reasoning
        );
        assert!(out.verdict.evidence.iter().any(|e| e.source == "intel"));
        assert!(
            out.provenance
                .investigation
                .iter()
                .any(|l| l.starts_with("intel lookup abuseipdb ip 185.220.101.47")),
            "recorded with the triage: {:#?}",
            out.provenance.investigation
        );
        // Each remote lookup is recorded with the provider's raw answer, under the id the
        // prompt gives its line.
        let abuse = out
            .provenance
            .tool_calls
            .iter()
            .find(|r| r.name == "intel_lookup:abuseipdb")
            .expect("abuseipdb recorded");
        assert!(
            abuse.output.contains("abuseConfidenceScore"),
            "{}",
            abuse.output
        );
        let line = out
            .provenance
            .investigation
            .iter()
            .position(|l| l.starts_with("intel lookup abuseipdb"))
            .expect("line");
        assert_eq!(abuse.id, format!("lookup_{}", line + 1));
    }
}
