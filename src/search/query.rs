//! From an alert to what the retrievers need: weighted text for BM25 (title above
//! description above raw fields, noise such as GUIDs and hashes dropped), one passage for
//! the dense retriever, technique ids the alert names itself, and the platforms it is from.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::alert::Alert;
use crate::attack::normalize_id;

/// A piece of alert text with the weight its words get in BM25.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    /// Where it came from: `title`, `description`, or a raw field path.
    pub source: String,
    pub text: String,
    pub weight: f32,
}

/// A technique id written in the alert itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplicitId {
    pub id: String,
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RetrievalQuery {
    pub segments: Vec<Segment>,
    pub dense_text: String,
    pub explicit: Vec<ExplicitId>,
    /// ATT&CK platform names (`Windows`, `IaaS`…) the alert comes from, if known.
    pub platforms: Vec<String>,
}

const TITLE_WEIGHT: f32 = 2.0;
const DESCRIPTION_WEIGHT: f32 = 1.0;
const COMMAND_WEIGHT: f32 = 0.8;
const PROCESS_WEIGHT: f32 = 0.8;
const FIELD_WEIGHT: f32 = 0.5;
const HINT_WEIGHT: f32 = 0.3;
/// The dense passage is cut here: the model reads at most a few hundred tokens anyway.
const DENSE_CHARS: usize = 200;

static NOISE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", // GUID
        r"|\b[0-9a-f]{16,}\b",                                                   // hashes, long hex
        r"|\b\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?", // timestamps
        r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{2}:\d{2}:\d{2}\b",
        r"|\b(?:\d{1,3}\.){3}\d{1,3}\b", // IPv4
        r"|[A-Za-z0-9+/]{40,}={0,2}",    // base64 blobs
        r"|\b\d{7,}\b",                  // long numbers
    ))
    .expect("static regex")
});

static TECHNIQUE_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\battack\.|\b)([Tt]\d{4}(?:\.\d{3})?)\b").expect("static regex")
});

/// Removes GUIDs, hashes, timestamps, IP addresses, encoded blobs and long numbers: tokens
/// that identify one event but say nothing about the behaviour.
pub fn denoise(text: &str) -> String {
    NOISE.replace_all(text, " ").into_owned()
}

/// Builds the retrieval query for an alert.
pub fn build(alert: &Alert) -> RetrievalQuery {
    let mut q = RetrievalQuery::default();
    let mut push = |source: &str, text: &str, weight: f32| {
        let text = denoise(text);
        if !text.trim().is_empty() {
            q.segments.push(Segment {
                source: source.to_string(),
                text,
                weight,
            });
        }
    };
    push("title", &alert.title, TITLE_WEIGHT);
    push("description", &alert.description, DESCRIPTION_WEIGHT);

    let mut commands: Vec<&str> = Vec::new();
    let mut platforms: Vec<&str> = Vec::new();
    for field in &alert.fields {
        let key = field
            .path
            .rsplit('.')
            .next()
            .unwrap_or(&field.path)
            .to_ascii_lowercase();
        // `product` is the platform in a Sigma logsource but PE metadata in a Sysmon event.
        let kind = if field
            .path
            .to_ascii_lowercase()
            .ends_with("logsource.product")
        {
            FieldKind::Platform
        } else {
            classify(&key)
        };
        match kind {
            FieldKind::Skip => {}
            FieldKind::Command => {
                commands.push(&field.value);
                push(&field.path, &field.value, COMMAND_WEIGHT);
            }
            FieldKind::Process => push(&field.path, &basenames(&field.value), PROCESS_WEIGHT),
            FieldKind::Platform => {
                platforms.push(&field.value);
                push(&field.path, &field.value, HINT_WEIGHT);
            }
            FieldKind::Category => push(&field.path, &field.value.replace('_', " "), HINT_WEIGHT),
            FieldKind::Other => push(&field.path, &field.value, FIELD_WEIGHT),
        }
    }

    let mut dense = alert.title.clone();
    if !alert.description.is_empty() {
        dense.push_str(". ");
        dense.push_str(&alert.description);
    }
    if let Some(cmd) = commands.first() {
        dense.push_str(". Command: ");
        dense.push_str(cmd);
    }
    q.dense_text = crate::attack::markup::truncate_words(denoise(&dense).trim(), DENSE_CHARS);

    q.platforms = attack_platforms(&platforms);
    if q.platforms.is_empty() {
        q.platforms = attack_platforms(&[alert.title.as_str()]);
    }

    for (source, text) in std::iter::once(("title", alert.title.as_str()))
        .chain(std::iter::once(("description", alert.description.as_str())))
        .chain(
            alert
                .fields
                .iter()
                .map(|f| (f.path.as_str(), f.value.as_str())),
        )
    {
        for cap in TECHNIQUE_REF.captures_iter(text) {
            if let Some(id) = normalize_id(&cap[1])
                && !q.explicit.iter().any(|e| e.id == id)
            {
                q.explicit.push(ExplicitId {
                    id,
                    source: source.to_string(),
                });
            }
        }
    }
    q
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Skip,
    Command,
    Process,
    Platform,
    Category,
    Other,
}

fn classify(key: &str) -> FieldKind {
    match key {
        "commandline"
        | "command_line"
        | "cmdline"
        | "command"
        | "scriptblocktext"
        | "payload"
        | "parentcommandline"
        | "parent_command_line"
        | "args"
        | "process_command_line" => FieldKind::Command,
        "image"
        | "parentimage"
        | "originalfilename"
        | "executable"
        | "process_name"
        | "parent_process_name"
        | "process"
        | "parent_process"
        | "sourceimage"
        | "targetimage"
        | "imageloaded"
        | "exe" => FieldKind::Process,
        "platform" | "os" | "os_family" | "os_platform" => FieldKind::Platform,
        "category" | "service" | "executor" | "logsource" | "dataset" | "module" => {
            FieldKind::Category
        }
        "alert_id" | "id" | "_id" | "uuid" | "guid" | "@timestamp" | "timestamp" | "time"
        | "processguid" | "parentprocessguid" | "logonguid" | "hashes" | "hash" | "md5"
        | "sha1" | "sha256" | "processid" | "parentprocessid" | "pid" | "ppid" | "ruleid"
        | "rule_id" => FieldKind::Skip,
        _ => FieldKind::Other,
    }
}

/// `C:\Windows\System32\cmd.exe` → `cmd.exe`: the directory rarely matters to retrieval.
fn basenames(value: &str) -> String {
    value
        .split([',', ';'])
        .map(|v| v.trim().rsplit(['\\', '/']).next().unwrap_or(v))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Maps how alerts name their platform to ATT&CK's platform names.
pub fn attack_platforms(hints: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: &str| {
        if !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    };
    for hint in hints {
        let h = hint.to_ascii_lowercase();
        let words: Vec<&str> = h
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let has = |w: &str| words.contains(&w);
        if has("windows") || has("win") {
            add("Windows");
        }
        if has("linux") || has("auditd") {
            add("Linux");
        }
        if has("macos") || has("osx") || has("darwin") {
            add("macOS");
        }
        if has("aws") || has("gcp") || has("iaas") || has("cloudtrail") {
            add("IaaS");
        }
        if has("azure") && !h.contains("azure-ad") && !h.contains("azuread") {
            add("IaaS");
        }
        if has("azure") || has("azuread") || has("entra") || has("okta") || has("onelogin") {
            add("Identity Provider");
        }
        if has("m365")
            || has("o365")
            || h.contains("office-365")
            || h.contains("office365")
            || has("workspace")
        {
            add("Office Suite");
        }
        if has("saas")
            || has("github")
            || has("gitlab")
            || has("bitbucket")
            || has("salesforce")
            || has("slack")
        {
            add("SaaS");
        }
        if has("kubernetes") || has("containers") || has("container") || has("docker") {
            add("Containers");
        }
        if has("esxi") || has("vmware") {
            add("ESXi");
        }
        if has("cisco") || has("fortigate") || has("junos") || has("paloalto") {
            add("Network Devices");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::parse::from_json;
    use serde_json::json;

    fn eval_alert() -> Alert {
        from_json(&json!({
            "alert_id": "x", "source": "edr", "severity": "high",
            "title": "Encoded PowerShell from Word (T1059.001)",
            "description": "winword spawned powershell at 2024-01-02T03:04:05Z on 10.1.2.3",
            "raw_log": {"logsource": {"category": "process_creation", "product": "windows"},
                "event": {"Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                          "ParentImage": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
                          "CommandLine": "powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
                          "ProcessGuid": "{0b6c3c5e-1234-5678-9abc-def012345678}"}},
            "indicators": {}
        }))
    }

    #[test]
    fn weights_follow_field_roles() {
        let q = build(&eval_alert());
        let weight = |src: &str| {
            q.segments
                .iter()
                .find(|s| s.source.ends_with(src))
                .map(|s| s.weight)
        };
        assert_eq!(weight("title"), Some(TITLE_WEIGHT));
        assert_eq!(weight("description"), Some(DESCRIPTION_WEIGHT));
        assert_eq!(weight("CommandLine"), Some(COMMAND_WEIGHT));
        assert_eq!(weight("category"), Some(HINT_WEIGHT));
        assert_eq!(weight("ProcessGuid"), None, "ids are skipped");
        let image = q
            .segments
            .iter()
            .find(|s| s.source.ends_with(".Image"))
            .expect("image");
        assert_eq!(image.text, "powershell.exe");
    }

    #[test]
    fn noise_is_dropped() {
        let q = build(&eval_alert());
        let all: String = q
            .segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!all.contains("2024-01-02"), "{all}");
        assert!(!all.contains("10.1.2.3"));
        assert!(!all.contains("SQBFAFgA"), "base64 blob kept: {all}");
        assert!(all.contains("powershell -enc"));
        assert!(q.dense_text.starts_with("Encoded PowerShell from Word"));
    }

    #[test]
    fn explicit_ids_and_platforms() {
        let q = build(&eval_alert());
        assert_eq!(
            q.explicit,
            vec![ExplicitId {
                id: "T1059.001".into(),
                source: "title".into()
            }]
        );
        assert_eq!(q.platforms, vec!["Windows".to_string()]);
        let sigma_tag = from_json(
            &json!({"title": "x", "description": "tags attack.t1003.001", "raw_log": {}}),
        );
        assert_eq!(build(&sigma_tag).explicit[0].id, "T1003.001");
    }

    #[test]
    fn platform_names_map_to_attack() {
        assert_eq!(attack_platforms(&["iaas:aws"]), vec!["IaaS"]);
        assert_eq!(attack_platforms(&["azure-ad"]), vec!["Identity Provider"]);
        assert_eq!(
            attack_platforms(&["azure"]),
            vec!["IaaS", "Identity Provider"]
        );
        assert_eq!(attack_platforms(&["office-365"]), vec!["Office Suite"]);
        assert!(attack_platforms(&["opencanary"]).is_empty());
    }

    #[test]
    fn plain_text_works() {
        let a = crate::alert::parse::from_text("vssadmin delete shadows /all /quiet on FS01", None);
        let q = build(&a);
        assert_eq!(q.segments.len(), 1);
        assert!(q.dense_text.contains("vssadmin"));
    }
}
