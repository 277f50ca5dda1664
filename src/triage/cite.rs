//! Which retrieved techniques a verdict may cite. Retrieval ranks every technique; a
//! citation is a claim, so it needs corroboration: the alert names the technique, or several
//! distinct behaviour words of the alert match it, or it is close in meaning to the alert —
//! and the alert's platform does not contradict it. Words from host names, user names and
//! other identifiers are not behaviour. The rest stay visible as candidates.

use serde::Serialize;

use crate::alert::Alert;
use crate::attack::Catalog;
use crate::search::query::{attack_platforms, build};
use crate::search::{Hit, Why};

/// What speaks for one retrieved technique, as the citation rule reads it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Support {
    pub id: String,
    pub rank: usize,
    pub score: f32,
    /// How far ahead of the next candidate it is.
    pub margin: f32,
    pub explicit: bool,
    /// Distinct alert words it matched, identifiers left out.
    pub terms: Vec<String>,
    /// Matched in the technique's name or artifacts (the tools and commands ATT&CK quotes).
    pub strong_terms: usize,
    pub semantic: f32,
    /// False when the alert's platform is known and the technique does not run there.
    pub platform_ok: bool,
}

/// Semantic similarity that corroborates a technique below the top on its own.
const STRONG_SEMANTIC: f32 = 0.65;
/// A candidate within this share of the top score is as well supported as the top: the
/// evidence does not separate them, so both are cited. Below it, the top has a clear margin.
const NEAR_TOP: f32 = 0.9;
/// The top candidate needs two behaviour words or this much semantic similarity: one
/// coincidental word is not evidence.
const FAIR_SEMANTIC: f32 = 0.4;
/// Retrieved techniques cited at most.
pub const MAX_RETRIEVED: usize = 3;

impl Support {
    fn one_coincidental_term(&self) -> bool {
        self.terms.len() < 2 && self.semantic < FAIR_SEMANTIC
    }
}

/// Which retrieved candidates the evidence supports citing, with why, in rank order:
/// a technique the alert names; the top candidate unless it rests on one coincidental word;
/// others only when they are nearly tied with the top or close in meaning to the alert —
/// never on a platform the alert contradicts. Zero is a possible answer.
pub fn decide(supports: &[Support]) -> Vec<(usize, String)> {
    let top = supports
        .iter()
        .find(|s| s.platform_ok)
        .map_or(0.0, |s| s.score);
    let mut out = Vec::new();
    for (i, s) in supports.iter().enumerate() {
        let why = if s.explicit {
            Some("named in the alert".to_string())
        } else if !s.platform_ok || s.one_coincidental_term() {
            None
        } else if s.score >= top {
            Some(format!(
                "best supported ({} alert terms{})",
                s.terms.len(),
                if s.semantic > 0.0 {
                    format!(", semantic {:.2}", s.semantic)
                } else {
                    String::new()
                }
            ))
        } else if s.score >= NEAR_TOP * top {
            Some(format!(
                "as well supported as the best ({:.2} vs {top:.2})",
                s.score
            ))
        } else if s.semantic >= STRONG_SEMANTIC {
            Some(format!("close in meaning (semantic {:.2})", s.semantic))
        } else {
            None
        };
        if let Some(why) = why {
            out.push((i, why));
        }
        if out.len() == MAX_RETRIEVED {
            break;
        }
    }
    out
}

/// Lower-case words of the alert's identifiers: host, user, domain and account names.
fn identifier_words(alert: &Alert) -> Vec<String> {
    const KEYS: [&str; 16] = [
        "host",
        "hostname",
        "host_name",
        "computer",
        "computername",
        "device",
        "devicename",
        "workstation",
        "machine",
        "user",
        "username",
        "user_name",
        "account",
        "domain",
        "subjectusername",
        "targetusername",
    ];
    let mut values: Vec<&str> = Vec::new();
    values.extend(alert.host.as_deref());
    values.extend(alert.user.as_deref());
    for f in &alert.fields {
        let key = f
            .path
            .rsplit('.')
            .next()
            .unwrap_or(&f.path)
            .to_ascii_lowercase();
        if KEYS.contains(&key.as_str()) {
            values.push(&f.value);
        }
    }
    let mut words: Vec<String> = values
        .iter()
        .flat_map(|v| v.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The platforms the alert shows it comes from: named ones (log source, OS fields, title)
/// and what its processes and paths give away. Empty when unknown.
pub fn alert_platforms(alert: &Alert) -> Vec<String> {
    let mut platforms = build(alert).platforms;
    if !platforms.is_empty() {
        return platforms;
    }
    let text = alert.full_text().to_ascii_lowercase();
    let windows = [
        ".exe",
        ".dll",
        ".ps1",
        "powershell",
        "\\windows\\",
        "hklm\\",
        "hkcu\\",
        "c:\\",
    ]
    .iter()
    .any(|m| text.contains(m));
    let unix = [
        "/bin/",
        "/usr/",
        "/etc/",
        "/var/",
        "/home/",
        "sshd",
        "sudo ",
        "crontab",
        "systemctl",
    ]
    .iter()
    .any(|m| text.contains(m));
    let mac = [
        "launchctl",
        "/library/",
        "osascript",
        "launchagents",
        "launchdaemons",
    ]
    .iter()
    .any(|m| text.contains(m));
    match (windows, unix, mac) {
        (true, false, false) => platforms.push("Windows".into()),
        (false, true, false) => {
            platforms.push("Linux".into());
            platforms.push("macOS".into());
        }
        (false, _, true) => platforms.push("macOS".into()),
        _ => {}
    }
    platforms.extend(attack_platforms(&[&text]));
    platforms.sort();
    platforms.dedup();
    platforms
}

/// The evidence for each hit, in rank order; `platforms` is `alert_platforms(alert)`,
/// computed once by the caller.
pub fn support(
    alert: &Alert,
    hits: &[Hit],
    catalog: &Catalog,
    platforms: &[String],
) -> Vec<Support> {
    let ids = identifier_words(alert);
    hits.iter()
        .enumerate()
        .map(|(rank, h)| {
            let mut terms: Vec<String> = Vec::new();
            let mut strong_terms = 0;
            let mut semantic: f32 = 0.0;
            let mut explicit = false;
            for w in &h.why {
                match w {
                    Why::ExplicitId { .. } => explicit = true,
                    Why::Semantic { similarity, .. } => semantic = semantic.max(*similarity),
                    Why::Terms { field, terms: t } => {
                        for term in t {
                            let term = term.to_lowercase();
                            if term.chars().count() < 3
                                || ids.iter().any(|i| *i == term || i.starts_with(&term))
                            {
                                continue;
                            }
                            if matches!(*field, "name" | "artifacts") {
                                strong_terms += 1;
                            }
                            if !terms.contains(&term) {
                                terms.push(term);
                            }
                        }
                    }
                }
            }
            let platform_ok = platforms.is_empty()
                || catalog.get(&h.id).is_none_or(|t| {
                    t.platforms.is_empty() || t.platforms.iter().any(|p| platforms.contains(p))
                });
            Support {
                id: h.id.clone(),
                rank,
                score: h.score,
                margin: h.score - hits.get(rank + 1).map_or(0.0, |n| n.score),
                explicit,
                terms,
                strong_terms,
                semantic,
                platform_ok,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, score: f32, terms: &[&str], semantic: f32) -> Hit {
        let mut why = vec![Why::Terms {
            field: "description",
            terms: terms.iter().map(|t| t.to_string()).collect(),
        }];
        if semantic > 0.0 {
            why.push(Why::Semantic {
                similarity: semantic,
                passage: "summary",
            });
        }
        Hit {
            id: id.into(),
            name: id.into(),
            tactics: Vec::new(),
            score,
            bm25_rank: None,
            dense_rank: None,
            why,
        }
    }

    fn empty_catalog() -> Catalog {
        Catalog::empty("18.1")
    }

    #[test]
    fn the_number_cited_follows_the_evidence() {
        let alert = Alert::default();
        let c = empty_catalog();
        // A clear margin: only the top.
        let hits = [
            hit("T1", 1.0, &["vssadmin", "shadows"], 0.5),
            hit("T2", 0.6, &["delete", "quiet"], 0.45),
            hit("T3", 0.5, &["all", "copies"], 0.3),
        ];
        let d = decide(&support(&alert, &hits, &c, &alert_platforms(&alert)));
        assert_eq!(d.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0]);
        // Nearly tied: the evidence cannot separate them, both are cited.
        let hits = [
            hit("T1", 1.0, &["vssadmin", "shadows"], 0.5),
            hit("T2", 0.95, &["delete", "quiet"], 0.45),
            hit("T3", 0.5, &["all"], 0.7),
        ];
        let d = decide(&support(&alert, &hits, &c, &alert_platforms(&alert)));
        assert_eq!(d.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2]);
        // One coincidental word and weak meaning: nothing is cited.
        let hits = [
            hit("T1", 1.0, &["agent"], 0.2),
            hit("T2", 0.3, &["user"], 0.1),
        ];
        assert!(decide(&support(&alert, &hits, &c, &alert_platforms(&alert))).is_empty());
    }

    #[test]
    fn identifier_words_are_not_behaviour() {
        let alert = Alert {
            host: Some("LAUNCH-AGENT-01".into()),
            user: Some("CORP\\backup.svc".into()),
            ..Default::default()
        };
        let s = support(
            &alert,
            &[hit(
                "T1543.001",
                1.0,
                &["launch", "agent", "backup", "plist"],
                0.3,
            )],
            &empty_catalog(),
            &alert_platforms(&alert),
        );
        assert_eq!(s[0].terms, ["plist"]);
        assert!(decide(&s).is_empty(), "one real word left: not cited");
    }

    #[test]
    fn platforms_come_from_the_alert_when_it_does_not_name_them() {
        let win = Alert {
            description: "vssadmin.exe delete shadows /all /quiet".into(),
            ..Default::default()
        };
        assert_eq!(alert_platforms(&win), ["Windows"]);
        let nix = Alert {
            description: "cat /etc/shadow by sudo".into(),
            ..Default::default()
        };
        assert!(alert_platforms(&nix).contains(&"Linux".to_string()));
        assert!(alert_platforms(&Alert::default()).is_empty());
    }
}
