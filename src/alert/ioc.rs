//! Indicators of compromise pulled out of alert text: addresses, domains, URLs, hashes,
//! e-mail addresses, CVE ids, and the users, hosts, processes and command lines named in
//! its fields. Defanged forms (`hxxp`, `[.]`) are refanged first.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::Field;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Iocs {
    pub public_ips: Vec<String>,
    pub private_ips: Vec<String>,
    pub domains: Vec<String>,
    pub urls: Vec<String>,
    pub md5: Vec<String>,
    pub sha1: Vec<String>,
    pub sha256: Vec<String>,
    pub emails: Vec<String>,
    pub cves: Vec<String>,
    pub users: Vec<String>,
    pub hosts: Vec<String>,
    pub processes: Vec<String>,
    pub command_lines: Vec<String>,
}

impl Iocs {
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    pub fn count(&self) -> usize {
        self.lists().iter().map(|(_, v)| v.len()).sum()
    }

    /// Every list with its name, for display and prompts.
    pub fn lists(&self) -> [(&'static str, &Vec<String>); 13] {
        [
            ("public IP", &self.public_ips),
            ("private IP", &self.private_ips),
            ("domain", &self.domains),
            ("URL", &self.urls),
            ("MD5", &self.md5),
            ("SHA-1", &self.sha1),
            ("SHA-256", &self.sha256),
            ("e-mail", &self.emails),
            ("CVE", &self.cves),
            ("user", &self.users),
            ("host", &self.hosts),
            ("process", &self.processes),
            ("command line", &self.command_lines),
        ]
    }
}

impl Iocs {
    /// Every list, to fill or merge.
    pub fn lists_mut(&mut self) -> [(&'static str, &mut Vec<String>); 13] {
        [
            ("public IP", &mut self.public_ips),
            ("private IP", &mut self.private_ips),
            ("domain", &mut self.domains),
            ("URL", &mut self.urls),
            ("MD5", &mut self.md5),
            ("SHA-1", &mut self.sha1),
            ("SHA-256", &mut self.sha256),
            ("e-mail", &mut self.emails),
            ("CVE", &mut self.cves),
            ("user", &mut self.users),
            ("host", &mut self.hosts),
            ("process", &mut self.processes),
            ("command line", &mut self.command_lines),
        ]
    }
}

/// Most values kept per kind: an alert listing ten thousand IPs is summarised, not copied.
const MAX_PER_KIND: usize = 50;

static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)\b(?:https?|ftp)://[^\s"'<>\\`|]+"#).expect("static regex"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:$|[^\w.]|\.(?:\D|$))")
        .expect("static regex")
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^\w:])([0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})(?:$|[^\w:])")
        .expect("static regex")
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9._%+-]{1,64}@(?:[a-z0-9-]{1,63}\.)+[a-z]{2,24}\b")
        .expect("static regex")
});
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^\w.@/\\-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,24}))\b(?:[^\w.\\-]|$)")
        .expect("static regex")
});
static HEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[0-9a-f]{32,64}\b").expect("static regex"));
static CVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bCVE-\d{4}-\d{4,7}\b").expect("static regex"));

/// Top-level domains accepted for bare domains. A closed list is what keeps file names
/// (`a.exe`, `report.docx`, `run.ps1`) from being taken for domains.
const TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "co", "me", "us", "uk", "de", "fr", "ru", "cn", "jp",
    "kr", "in", "br", "nl", "it", "es", "pl", "ua", "ir", "kp", "tk", "ml", "ga", "cf", "gq",
    "xyz", "top", "online", "site", "club", "shop", "live", "app", "dev", "cloud", "tech", "space",
    "icu", "cc", "tv", "ws", "su", "pw", "onion", "gov", "edu", "mil", "int", "ca", "au", "ch",
    "se", "no", "fi", "dk", "at", "be", "cz", "ro", "hu", "gr", "pt", "tr", "il", "sg", "hk", "tw",
    "vn", "th", "id", "my", "ph", "za", "mx", "ar", "cl", "nz", "ie", "local", "corp", "lan",
    "internal", "example",
];

/// Field names that carry users, hosts, processes and command lines, by last path segment.
const USER_KEYS: &[&str] = &[
    "user",
    "username",
    "user_name",
    "targetusername",
    "subjectusername",
    "src_user",
    "dest_user",
    "account",
    "accountname",
    "srcuser",
    "dstuser",
];
const HOST_KEYS: &[&str] = &[
    "host",
    "hostname",
    "host_name",
    "computer",
    "computername",
    "dest",
    "dest_host",
    "src_host",
    "devicename",
    "workstation",
    "workstationname",
];
const PROCESS_KEYS: &[&str] = &[
    "image",
    "parentimage",
    "process",
    "process_name",
    "parent_process_name",
    "executable",
    "originalfilename",
    "sourceimage",
    "targetimage",
    "exe",
];
const COMMAND_KEYS: &[&str] = &[
    "commandline",
    "command_line",
    "cmdline",
    "parentcommandline",
    "process_command_line",
    "scriptblocktext",
];

/// `hxxp://evil[.]com` → `http://evil.com`.
pub fn refang(text: &str) -> String {
    let mut t = text.to_string();
    for (from, to) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[@]", "@"),
        ("[at]", "@"),
        ("hxxps", "https"),
        ("hxxp", "http"),
        ("hXXps", "https"),
        ("hXXp", "http"),
        ("fxp", "ftp"),
    ] {
        if t.contains(from) {
            t = t.replace(from, to);
        }
    }
    t
}

/// Extracts indicators from free text and from named fields.
pub fn extract(text: &str, fields: &[Field]) -> Iocs {
    let text = refang(text);
    let mut iocs = Iocs::default();
    let mut url_hosts = BTreeSet::new();

    for m in URL.find_iter(&text) {
        let url = m.as_str().trim_end_matches(['.', ',', ')', ']', ';']);
        if let Some(host) = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', ':', '?', '#']).next())
        {
            url_hosts.insert(host.to_ascii_lowercase());
        }
        push(&mut iocs.urls, url.to_string());
    }
    for c in IPV4.captures_iter(&text) {
        let s = &c[1];
        if let Ok(ip) = s.parse::<Ipv4Addr>() {
            if looks_like_version(&text, s) {
                continue;
            }
            let list = if is_private(IpAddr::V4(ip)) {
                &mut iocs.private_ips
            } else {
                &mut iocs.public_ips
            };
            push(list, ip.to_string());
        }
    }
    for c in IPV6.captures_iter(&text) {
        if let Ok(ip) = c[1].parse::<Ipv6Addr>() {
            let list = if is_private(IpAddr::V6(ip)) {
                &mut iocs.private_ips
            } else {
                &mut iocs.public_ips
            };
            push(list, ip.to_string());
        }
    }
    let mut email_domains = BTreeSet::new();
    for m in EMAIL.find_iter(&text) {
        let e = m.as_str().to_ascii_lowercase();
        if let Some((_, d)) = e.split_once('@') {
            email_domains.insert(d.to_string());
        }
        push(&mut iocs.emails, e);
    }
    for c in DOMAIN.captures_iter(&text) {
        let domain = c[1].to_ascii_lowercase();
        let tld = c[2].to_ascii_lowercase();
        if !TLDS.contains(&tld.as_str()) || email_domains.contains(&domain) {
            continue;
        }
        push(&mut iocs.domains, domain);
    }
    for host in url_hosts {
        if host.parse::<IpAddr>().is_err() && host.contains('.') {
            push(&mut iocs.domains, host);
        }
    }
    for m in HEX.find_iter(&text) {
        let h = m.as_str().to_ascii_lowercase();
        match h.len() {
            32 => push(&mut iocs.md5, h),
            40 => push(&mut iocs.sha1, h),
            64 => push(&mut iocs.sha256, h),
            _ => {}
        }
    }
    for m in CVE.find_iter(&text) {
        push(&mut iocs.cves, m.as_str().to_ascii_uppercase());
    }

    for f in fields {
        let key = f
            .path
            .rsplit('.')
            .next()
            .unwrap_or(&f.path)
            .to_ascii_lowercase();
        let full = f.path.to_ascii_lowercase();
        let value = f.value.trim();
        if value.is_empty() || value == "-" {
            continue;
        }
        if USER_KEYS.contains(&key.as_str()) || full.ends_with("user.name") {
            push(&mut iocs.users, value.to_string());
        } else if HOST_KEYS.contains(&key.as_str())
            || full.ends_with("host.name")
            || full.ends_with("agent.name")
        {
            push(&mut iocs.hosts, value.to_string());
        } else if COMMAND_KEYS.contains(&key.as_str()) {
            push(&mut iocs.command_lines, value.to_string());
        } else if PROCESS_KEYS.contains(&key.as_str())
            || full.ends_with("process.name")
            || full.ends_with("parent.name")
        {
            let base = value.rsplit(['\\', '/']).next().unwrap_or(value);
            if !base.is_empty() {
                push(&mut iocs.processes, base.to_string());
            }
        }
    }
    iocs
}

fn push(list: &mut Vec<String>, value: String) {
    if list.len() < MAX_PER_KIND && !list.contains(&value) {
        list.push(value);
    }
}

/// `Chrome 120.0.6099.109`, `v1.2.3.4`, `version 10.0.19041.1`: dotted quads that are
/// software versions, not addresses.
fn looks_like_version(text: &str, candidate: &str) -> bool {
    let Some(at) = text.find(candidate) else {
        return false;
    };
    let before = text[..at].trim_end().to_ascii_lowercase();
    before.ends_with('v')
        || before.ends_with("version")
        || before.ends_with("ver")
        || before.ends_with("build")
}

pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(path: &str, value: &str) -> Field {
        Field {
            path: path.into(),
            value: value.into(),
        }
    }

    #[test]
    fn refanged_urls_domains_and_ips() {
        let i = extract(
            "beacon to hxxps://evil-cdn[.]com/a.php?x=1 and 185[.]22[.]15[.]7, lan 10.0.0.5",
            &[],
        );
        assert_eq!(i.urls, ["https://evil-cdn.com/a.php?x=1"]);
        assert_eq!(i.domains, ["evil-cdn.com"]);
        assert_eq!(i.public_ips, ["185.22.15.7"]);
        assert_eq!(i.private_ips, ["10.0.0.5"]);
    }

    #[test]
    fn no_false_positives_on_files_and_versions() {
        let i = extract(
            "ran a.exe and payload.dll from C:\\temp\\run.ps1, Chrome/120.0.6099.109 (version 10.0.19041.1), build 6.3.9600.2, report.docx, v1.2.3.4",
            &[],
        );
        assert!(i.domains.is_empty(), "{:?}", i.domains);
        assert!(
            i.public_ips.is_empty() && i.private_ips.is_empty(),
            "{:?} {:?}",
            i.public_ips,
            i.private_ips
        );
    }

    #[test]
    fn hashes_emails_cves_ipv6() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let text = format!(
            "{md5} {sha256} from Bob.Smith@Corp.example.com exploiting cve-2021-44228 via 2001:db8::1 and fe80::1"
        );
        let i = extract(&text, &[]);
        assert_eq!(i.md5, [md5]);
        assert_eq!(i.sha256, [sha256]);
        assert_eq!(i.emails, ["bob.smith@corp.example.com"]);
        assert!(
            i.domains.is_empty(),
            "the e-mail's domain is not repeated as a domain: {:?}",
            i.domains
        );
        assert_eq!(i.cves, ["CVE-2021-44228"]);
        assert_eq!(i.public_ips, ["2001:db8::1"]);
        assert_eq!(i.private_ips, ["fe80::1"]);
    }

    #[test]
    fn times_are_not_ipv6() {
        let i = extract("at 12:30:45 and 2024-01-01T10:11:12Z", &[]);
        assert!(i.public_ips.is_empty() && i.private_ips.is_empty());
    }

    #[test]
    fn named_fields_give_users_hosts_processes_commands() {
        let fields = [
            field("event.User", "CORP\\j.doe"),
            field("host.name", "FIN-WS-042"),
            field(
                "event.ParentImage",
                "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
            ),
            field("process.command_line", "powershell -enc AAAA"),
            field("event.Computer", "-"),
        ];
        let i = extract("", &fields);
        assert_eq!(i.users, ["CORP\\j.doe"]);
        assert_eq!(i.hosts, ["FIN-WS-042"]);
        assert_eq!(i.processes, ["WINWORD.EXE"]);
        assert_eq!(i.command_lines, ["powershell -enc AAAA"]);
    }

    #[test]
    fn lists_are_bounded() {
        let text: String = (0..500)
            .map(|i| format!("8.8.{}.{} ", i / 250, i % 250))
            .collect();
        assert_eq!(extract(&text, &[]).public_ips.len(), MAX_PER_KIND);
    }
}
