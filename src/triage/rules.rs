//! The offline engine's explicit rules: behaviours in command lines and alert text that
//! raise (or, for known-benign tooling, lower) the suspicion score, each with the ATT&CK
//! techniques it evidences and what would make it a false positive.

use std::sync::LazyLock;

use regex::Regex;

pub struct Rule {
    pub name: &'static str,
    pub weight: f64,
    pub techniques: &'static [&'static str],
    /// What an analyst should check before believing it (a false-positive indicator).
    pub false_positive: &'static str,
    pattern: &'static str,
}

/// Bumped when the rules change; part of the offline engine's provenance.
pub const RULESET_VERSION: &str = "offline-rules-1";

const RULES: &[Rule] = &[
    Rule {
        name: "encoded or obfuscated PowerShell",
        weight: 3.0,
        techniques: &["T1059.001", "T1027"],
        false_positive: "Some management agents (SCCM, Intune) run encoded PowerShell; check the parent process and signer",
        pattern: r"(?i)powershell[^\n]*\s-(?:e|en|enc|enco|encod|encodedcommand)\s|frombase64string|-encodedcommand",
    },
    Rule {
        name: "Office application spawning a shell or script host",
        weight: 3.0,
        techniques: &["T1566.001", "T1204.002"],
        false_positive: "Add-ins and legitimate macros occasionally start cmd.exe; check the document's origin",
        pattern: r"(?i)(?:winword|excel|powerpnt|outlook|onenote|msaccess)(?:\.exe)?[\s\S]{0,400}?(?:powershell|pwsh|cmd\.exe|wscript|cscript|mshta|rundll32|regsvr32)|(?:powershell|cmd\.exe|wscript|mshta)[\s\S]{0,400}?(?:winword|excel|powerpnt|outlook)\.exe",
    },
    Rule {
        name: "credential dumping tool or LSASS access",
        weight: 4.0,
        techniques: &["T1003.001"],
        false_positive: "EDR and crash-dump tooling read LSASS memory; confirm the tool and the account that ran it",
        pattern: r"(?i)mimikatz|sekurlsa|lsadump|procdump[^\n]{0,80}lsass|comsvcs(?:\.dll)?[^\n]{0,40}minidump|lsass\.(?:exe|dmp)[^\n]{0,80}(?:dump|access|read)|(?:dump|access|read)[^\n]{0,80}lsass|nanodump|pypykatz|secretsdump|ntdsutil[^\n]{0,60}ifm",
    },
    Rule {
        name: "shadow copy or backup deletion (ransomware precursor)",
        weight: 4.0,
        techniques: &["T1490"],
        false_positive: "Backup software prunes its own snapshots; check the process lineage and schedule",
        pattern: r"(?i)vssadmin(?:\.exe)?\s+delete\s+shadows|shadowcopy\s+delete|wbadmin(?:\.exe)?\s+delete\s+(?:catalog|systemstatebackup)|bcdedit[^\n]{0,40}recoveryenabled\s+no|resize\s+shadowstorage",
    },
    Rule {
        name: "Kerberoasting",
        weight: 3.0,
        techniques: &["T1558.003"],
        false_positive: "Service accounts with legacy RC4 settings generate 4769/0x17 events routinely",
        pattern: r"(?i)kerberoast|invoke-kerberoast|rubeus[^\n]{0,40}kerberoast|(?:4769[\s\S]{0,200}0x17|0x17[\s\S]{0,200}4769)|servicePrincipalName[^\n]{0,40}(?:request|roast)",
    },
    Rule {
        name: "brute force or password spraying",
        weight: 2.0,
        techniques: &["T1110"],
        false_positive: "A service with an expired password retries endlessly; check whether one account or many are involved",
        pattern: r"(?i)brute[ -]?force|password spray|credential stuffing|(?:many|multiple|excessive|\d{2,})\s+failed\s+(?:login|logon|sign-?in|auth)|failed logins?\s+(?:from|for)\s+\d+|4625[\s\S]{0,100}(?:count|times)",
    },
    Rule {
        name: "living-off-the-land binary used to proxy execution or download",
        weight: 2.0,
        techniques: &["T1218"],
        false_positive: "Installers legitimately call msiexec, rundll32 and regsvr32; check the arguments and their source",
        pattern: r"(?i)mshta(?:\.exe)?\s+(?:https?:|javascript:|vbscript:)|regsvr32[^\n]{0,60}/i:\s*https?|rundll32(?:\.exe)?\s+[^\n]{0,60}javascript:|certutil(?:\.exe)?[^\n]{0,40}-(?:urlcache|decode)|bitsadmin[^\n]{0,40}/transfer|msiexec[^\n]{0,20}/[iq][^\n]{0,20}https?:|installutil(?:\.exe)?\s|regasm(?:\.exe)?\s",
    },
    Rule {
        name: "download cradle",
        weight: 2.0,
        techniques: &["T1105", "T1059"],
        false_positive: "Admin scripts download packages; check the destination domain's reputation",
        pattern: r"(?i)downloadstring|downloadfile|invoke-webrequest|\biwr\b|\biex\b|invoke-expression|net\.webclient|(?:curl|wget)\s[^\n|]{0,200}\|\s*(?:ba)?sh",
    },
    Rule {
        name: "new service installed",
        weight: 1.5,
        techniques: &["T1543.003"],
        false_positive: "Software installs and updates create services; check the binary path (user-writable paths are suspicious)",
        pattern: r"(?i)\b7045\b|sc(?:\.exe)?\s+create\s|new-service\s|service was installed",
    },
    Rule {
        name: "scheduled task created",
        weight: 1.5,
        techniques: &["T1053.005"],
        false_positive: "Updaters and IT tooling register tasks; check the task's action and author",
        pattern: r"(?i)schtasks(?:\.exe)?\s+/create|\b4698\b|register-scheduledtask|new-scheduledtask",
    },
    Rule {
        name: "unusual cloud console sign-in",
        weight: 2.0,
        techniques: &["T1078.004"],
        false_positive: "Travel and VPN egress changes produce impossible-travel alerts; check MFA and the user's itinerary",
        pattern: r"(?i)impossible travel|(?:console|portal)\s*(?:login|sign-?in)[^\n]{0,80}(?:new|unusual|rare|anomal)|consolelogin|root account (?:login|sign-?in|usage)",
    },
    Rule {
        name: "large outbound data transfer",
        weight: 2.5,
        techniques: &["T1048", "T1567"],
        false_positive: "Backups and cloud sync move large volumes; check the destination and whether it is sanctioned",
        pattern: r"(?i)exfiltrat|(?:upload|outbound|egress|transfer)[^\n]{0,60}\b\d+(?:\.\d+)?\s*(?:gb|gib|tb)\b|bytes_out[^\n]{0,20}\d{9,}|rclone|mega\.nz|transfer\.sh",
    },
    Rule {
        name: "security tooling tampered with",
        weight: 3.0,
        techniques: &["T1562.001"],
        false_positive: "Administrators disable Defender during troubleshooting; check for a change ticket",
        pattern: r"(?i)set-mppreference[^\n]{0,60}disable|disablerealtimemonitoring|sc(?:\.exe)?\s+(?:stop|delete|config)\s+(?:windefend|sense|mpssvc)|wevtutil(?:\.exe)?\s+cl\s|clear-eventlog",
    },
    Rule {
        name: "known backup, scanner or IT administration activity",
        weight: -2.5,
        techniques: &[],
        false_positive: "",
        pattern: r"(?i)\bveeam|backup job|nightly backup|scheduled backup|commvault|\bnessus\b|qualys|rapid7|openvas|vulnerability scan|authorized scan|\bsccm\b|ccmexec|intune|ansible|change ticket|\bCHG\d+",
    },
    Rule {
        name: "routine successful administrative login",
        weight: -1.5,
        techniques: &[],
        false_positive: "",
        pattern: r"(?i)(?:successful|success)\s+admin(?:istrative)?\s+(?:login|logon|sign-?in)|session opened for user",
    },
];

static COMPILED: LazyLock<Vec<(usize, Regex)>> = LazyLock::new(|| {
    RULES
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Regex::new(r.pattern).ok().map(|re| (i, re)))
        .collect()
});

/// A rule that fired, with the text that made it fire.
pub struct Hit {
    pub rule: &'static Rule,
    pub matched: String,
}

pub fn evaluate(text: &str) -> Vec<Hit> {
    COMPILED
        .iter()
        .filter_map(|(i, re)| {
            re.find(text).map(|m| Hit {
                rule: &RULES[*i],
                matched: m
                    .as_str()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(120)
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(COMPILED.len(), RULES.len());
    }

    fn names(text: &str) -> Vec<&'static str> {
        evaluate(text).iter().map(|h| h.rule.name).collect()
    }

    #[test]
    fn rules_fire_on_their_behaviours() {
        assert!(
            names("WINWORD.EXE spawned powershell.exe -nop -enc SQBFAFgA")
                .contains(&"encoded or obfuscated PowerShell")
        );
        assert!(
            names("parent WINWORD.EXE child powershell.exe")
                .contains(&"Office application spawning a shell or script host")
        );
        assert!(
            names("vssadmin.exe delete shadows /all /quiet")
                .contains(&"shadow copy or backup deletion (ransomware precursor)")
        );
        assert!(
            names("procdump64 -ma lsass.exe out.dmp")
                .contains(&"credential dumping tool or LSASS access")
        );
        assert!(
            names("Veeam backup job finished")
                .contains(&"known backup, scanner or IT administration activity")
        );
        assert!(names("user logged in to the portal").is_empty());
    }
}
