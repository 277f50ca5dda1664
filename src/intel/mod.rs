//! Threat intelligence and the investigation's memory: the indicators an alert carries, what
//! offline feeds say about them, and where they were seen before. Lookups here are local
//! (the store); remote providers build on the same `Indicator` and `Finding` types.

pub mod enrich;
pub mod import;
pub mod remote;

use serde::{Deserialize, Serialize};

use crate::alert::ioc::Iocs;

/// The kinds of indicator intel is kept and looked up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ip,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Ip,
        Kind::Domain,
        Kind::Url,
        Kind::Md5,
        Kind::Sha1,
        Kind::Sha256,
        Kind::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
            Kind::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One indicator, normalised: lower-case, refanged, no surrounding space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Indicator {
    pub kind: Kind,
    pub value: String,
}

impl Indicator {
    pub fn new(kind: Kind, value: &str) -> Indicator {
        Indicator {
            kind,
            value: normalise(value),
        }
    }

    /// The kind a bare value has (`1.2.3.4`, `evil.example`, a hash, a URL, an e-mail
    /// address), or `None` when it is none of them. `ip:port` keeps the address.
    pub fn detect(raw: &str) -> Option<Indicator> {
        let v = normalise(raw);
        if v.is_empty() || v.len() > 2048 {
            return None;
        }
        if v.contains("://") {
            return Some(Indicator {
                kind: Kind::Url,
                value: v,
            });
        }
        let host_part = match v.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
            _ => v.as_str(),
        };
        if host_part.parse::<std::net::IpAddr>().is_ok() {
            return Some(Indicator {
                kind: Kind::Ip,
                value: host_part.to_string(),
            });
        }
        if v.chars().all(|c| c.is_ascii_hexdigit()) {
            let kind = match v.len() {
                32 => Kind::Md5,
                40 => Kind::Sha1,
                64 => Kind::Sha256,
                _ => return None,
            };
            return Some(Indicator { kind, value: v });
        }
        if let Some((local, domain)) = v.split_once('@') {
            return (!local.is_empty() && is_domain(domain)).then_some(Indicator {
                kind: Kind::Email,
                value: v.clone(),
            });
        }
        is_domain(host_part).then(|| Indicator {
            kind: Kind::Domain,
            value: host_part.to_string(),
        })
    }
}

impl std::fmt::Display for Indicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.value)
    }
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| {
            tld.len() >= 2
                && tld.chars().all(|c| c.is_ascii_alphabetic())
                && !FILE_EXTENSIONS.contains(tld)
        })
}

/// Endings that make `name.ext` a file name, not a domain (`powershell.exe`, `run.ps1`).
const FILE_EXTENSIONS: &[&str] = &[
    "exe", "dll", "sys", "ps", "psm", "bat", "cmd", "vbs", "vbe", "js", "jse", "hta", "lnk", "msi",
    "scr", "jar", "py", "sh", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "pdf",
    "rtf", "txt", "log", "tmp", "dat", "ini", "cfg", "zip", "rar", "iso", "img", "json", "xml",
    "csv", "html", "htm", "php", "aspx", "jsp",
];

/// Lower-case, refanged (`hxxp`, `[.]`, `(.)`), trimmed of quotes and space.
pub fn normalise(raw: &str) -> String {
    raw.trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[:]", ":")
        .replace("hxxp", "http")
        .replace("hXXp", "http")
        .to_lowercase()
}

/// The indicators of an alert that intel and history are kept for: addresses (public and
/// private: private ones tie related alerts together), domains, URLs, hashes, e-mail.
pub fn indicators(iocs: &Iocs) -> Vec<Indicator> {
    let lists: [(Kind, &Vec<String>); 8] = [
        (Kind::Ip, &iocs.public_ips),
        (Kind::Ip, &iocs.private_ips),
        (Kind::Domain, &iocs.domains),
        (Kind::Url, &iocs.urls),
        (Kind::Md5, &iocs.md5),
        (Kind::Sha1, &iocs.sha1),
        (Kind::Sha256, &iocs.sha256),
        (Kind::Email, &iocs.emails),
    ];
    let mut out: Vec<Indicator> = lists
        .into_iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| Indicator::new(k, v)))
        .filter(|i| !i.value.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What a feed says about an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Malicious,
    Suspicious,
    /// Known and harmless: a research scanner, a CDN, an update server.
    Benign,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Malicious => "malicious",
            Verdict::Suspicious => "suspicious",
            Verdict::Benign => "benign",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        match s.trim().to_ascii_lowercase().as_str() {
            "malicious" | "bad" | "malware" => Some(Verdict::Malicious),
            "suspicious" => Some(Verdict::Suspicious),
            "benign" | "good" | "clean" | "allow" | "allowlist" => Some(Verdict::Benign),
            _ => None,
        }
    }
}

/// One feed's record for an indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntelRecord {
    pub indicator: Indicator,
    pub source: String,
    pub verdict: Verdict,
    /// Malware family, threat type or tag, as the feed names it.
    pub threat: Option<String>,
    pub first_seen: Option<String>,
    pub reference: Option<String>,
}

impl IntelRecord {
    /// `offline intel (feodotracker): ip 185.220.101.47 is malicious — QakBot`.
    pub fn line(&self) -> String {
        format!(
            "offline intel ({}): {} is {}{}",
            self.source,
            self.indicator,
            self.verdict.as_str(),
            self.threat
                .as_deref()
                .map(|t| format!(" — {t}"))
                .unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds_and_normalises() {
        let d = |s: &str| Indicator::detect(s).map(|i| (i.kind, i.value));
        assert_eq!(
            d("185.220.101.47"),
            Some((Kind::Ip, "185.220.101.47".into()))
        );
        assert_eq!(
            d("185.220.101.47:443"),
            Some((Kind::Ip, "185.220.101.47".into()))
        );
        assert_eq!(d("2001:db8::1"), Some((Kind::Ip, "2001:db8::1".into())));
        assert_eq!(
            d("Evil[.]Example.COM"),
            Some((Kind::Domain, "evil.example.com".into()))
        );
        assert_eq!(
            d("evil.example.com:8080"),
            Some((Kind::Domain, "evil.example.com".into()))
        );
        assert_eq!(
            d("hxxp://evil.example/a.exe"),
            Some((Kind::Url, "http://evil.example/a.exe".into()))
        );
        assert_eq!(d(&"a".repeat(64)).map(|x| x.0), Some(Kind::Sha256));
        assert_eq!(d(&"B".repeat(32)).map(|x| x.0), Some(Kind::Md5));
        assert_eq!(
            d("j.doe@corp.example"),
            Some((Kind::Email, "j.doe@corp.example".into()))
        );
        assert_eq!(d("not an indicator"), None);
        assert_eq!(d("deadbeef"), None, "hex of no hash length");
        assert_eq!(d("powershell.exe"), None, "a file name is not a domain");
    }
}
