//! Pseudonymisation: the entities a SOC must keep home (user names, host names, internal
//! addresses, e-mail addresses, anything a custom pattern names) are replaced by stable
//! tokens (`USER_1`, `HOST_2`, `IP_3`, `EMAIL_1`, `CUSTOM_1`) before text leaves the machine,
//! and the tokens are turned back into the real values in everything shown to the analyst.
//! The same value gets the same token within an alert and across a conversation; the
//! mapping lives only here (and in the local store). `leaks` finds any known value that
//! escaped, so an outbound request carrying one can be blocked.

use std::collections::HashMap;

use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    User,
    Host,
    InternalIp,
    Email,
    Custom,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::User => "USER",
            Kind::Host => "HOST",
            Kind::InternalIp => "IP",
            Kind::Email => "EMAIL",
            Kind::Custom => "CUSTOM",
        }
    }

    /// The config's names: `users`, `hosts`, `internal_ips`, `emails` (and `custom`).
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "users" | "user" => Kind::User,
            "hosts" | "host" => Kind::Host,
            "internal_ips" | "internal_ip" | "ips" => Kind::InternalIp,
            "emails" | "email" => Kind::Email,
            "custom" => Kind::Custom,
            _ => return None,
        })
    }

    pub fn config_name(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Host => "hosts",
            Kind::InternalIp => "internal_ips",
            Kind::Email => "emails",
            Kind::Custom => "custom",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "user name",
            Kind::Host => "host name",
            Kind::InternalIp => "internal address",
            Kind::Email => "e-mail address",
            Kind::Custom => "custom pattern",
        }
    }
}

/// Values shorter than this are not pseudonymised (a one-letter user would match everywhere).
const MIN_LEN: usize = 3;

#[derive(Debug, Default, Clone)]
pub struct Pseudonymiser {
    /// lower-cased value → (kind, token)
    forward: HashMap<String, (Kind, String)>,
    /// token → the value as first seen
    reverse: HashMap<String, String>,
    counters: HashMap<Kind, usize>,
    custom: Vec<Regex>,
    /// Learnt since the last `take_fresh`: (kind, value, token), to be stored.
    fresh: Vec<(Kind, String, String)>,
}

/// A value may be replaced only where it stands alone: not inside a longer name or number.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '@' || c == '\\'
}

fn bounded(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    // A trailing dot ends a sentence, not a name.
    let after_ok = match after {
        None => true,
        Some('.') => text[end + 1..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric()),
        Some(c) => !is_word(c),
    };
    before.is_none_or(|c| !is_word(c)) && after_ok
}

impl Pseudonymiser {
    pub fn new(custom: Vec<Regex>) -> Pseudonymiser {
        Pseudonymiser {
            custom,
            ..Pseudonymiser::default()
        }
    }

    /// Registers `value` as an entity of `kind` and returns its token (the same one every time).
    pub fn learn(&mut self, kind: Kind, value: &str) -> Option<String> {
        let v = value.trim();
        if v.chars().count() < MIN_LEN {
            return None;
        }
        let key = v.to_lowercase();
        if let Some((_, t)) = self.forward.get(&key) {
            return Some(t.clone());
        }
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        let token = format!("{}_{n}", kind.prefix());
        self.forward.insert(key, (kind, token.clone()));
        self.reverse.insert(token.clone(), v.to_string());
        self.fresh.push((kind, v.to_string(), token.clone()));
        Some(token)
    }

    /// Adds a mapping learnt earlier (from the store); later tokens of its kind number after it.
    pub fn restore(&mut self, kind: Kind, value: &str, token: &str) {
        let n: usize = token
            .rsplit('_')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let c = self.counters.entry(kind).or_insert(0);
        *c = (*c).max(n);
        self.forward
            .insert(value.trim().to_lowercase(), (kind, token.to_string()));
        self.reverse
            .insert(token.to_string(), value.trim().to_string());
    }

    /// The mappings learnt since the last call.
    pub fn take_fresh(&mut self) -> Vec<(Kind, String, String)> {
        std::mem::take(&mut self.fresh)
    }

    /// Forgets mappings learnt but not stored (another process took their tokens).
    pub fn forget(&mut self, value: &str) {
        if let Some((_, token)) = self.forward.remove(&value.trim().to_lowercase()) {
            self.reverse.remove(&token);
        }
    }

    /// Registers whatever the custom patterns match in `text`.
    pub fn learn_custom(&mut self, text: &str) {
        let found: Vec<String> = self
            .custom
            .iter()
            .flat_map(|r| r.find_iter(text).map(|m| m.as_str().to_string()))
            .collect();
        for f in found {
            self.learn(Kind::Custom, &f);
        }
    }

    /// Known values, longest first (so `CORP\jdoe` is replaced before `jdoe`).
    fn values(&self) -> Vec<(&String, &String)> {
        let mut v: Vec<(&String, &String)> =
            self.forward.iter().map(|(k, (_, t))| (k, t)).collect();
        v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        v
    }

    /// `text` with every known value replaced by its token.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, token) in self.values() {
            out = replace_bounded(&out, value, token);
        }
        out
    }

    /// `text` with every token turned back into its value (for what the analyst sees).
    pub fn reverse(&self, text: &str) -> String {
        let mut tokens: Vec<(&String, &String)> = self.reverse.iter().collect();
        // USER_12 before USER_1.
        tokens.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        let mut out = text.to_string();
        for (token, value) in tokens {
            out = replace_bounded(&out, &token.to_lowercase(), value);
        }
        out
    }

    /// The kinds of known values still present in `text` (an outbound request with any is
    /// blocked; the values themselves are not repeated in the error).
    pub fn leaks(&self, text: &str) -> Vec<Kind> {
        let lower = text.to_lowercase();
        let mut kinds: Vec<Kind> = self
            .forward
            .iter()
            .filter(|(value, _)| find_bounded(&lower, value).is_some())
            .map(|(_, (k, _))| *k)
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    pub fn len(&self) -> usize {
        self.forward.len()
    }

    pub fn is_empty(&self) -> bool {
        self.forward.is_empty()
    }
}

/// The first standalone, case-insensitive occurrence of `needle_lower` in `hay_lower` at or
/// after `from`.
fn find_bounded_from(hay_lower: &str, needle_lower: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(p) = hay_lower.get(at..)?.find(needle_lower) {
        let start = at + p;
        let end = start + needle_lower.len();
        if bounded(hay_lower, start, end) {
            return Some(start);
        }
        at = start + needle_lower.chars().next().map_or(1, char::len_utf8);
    }
    None
}

fn find_bounded(hay_lower: &str, needle_lower: &str) -> Option<usize> {
    find_bounded_from(hay_lower, needle_lower, 0)
}

/// Replaces standalone, case-insensitive occurrences of `needle_lower` with `with`.
fn replace_bounded(text: &str, needle_lower: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    // Lower-casing can change byte lengths (rare scripts): then match on the text itself.
    if lower.len() != text.len() {
        return text.replace(needle_lower, with);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(start) = find_bounded_from(&lower, needle_lower, from) {
        out.push_str(&text[last..start]);
        out.push_str(with);
        last = start + needle_lower.len();
        from = last;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pseudonymiser {
        let mut p = Pseudonymiser::new(vec![
            Regex::new(r"EMP-\d{5}").unwrap_or_else(|e| panic!("{e}")),
        ]);
        p.learn(Kind::User, r"CORP\jdoe");
        p.learn(Kind::User, "jdoe");
        p.learn(Kind::Host, "FIN-WS-042");
        p.learn(Kind::InternalIp, "10.1.2.3");
        p.learn(Kind::Email, "j.doe@corp.example");
        p
    }

    #[test]
    fn values_become_stable_tokens_and_come_back() {
        let mut p = p();
        p.learn_custom("badge EMP-12345 used");
        let text = r"CORP\jdoe on fin-ws-042 (10.1.2.3) mailed j.doe@corp.example; jdoe again. Badge EMP-12345.";
        let out = p.apply(text);
        assert_eq!(
            out,
            "USER_1 on HOST_1 (IP_1) mailed EMAIL_1; USER_2 again. Badge CUSTOM_1."
        );
        assert_eq!(p.learn(Kind::Host, "fin-ws-042").as_deref(), Some("HOST_1"));
        assert!(p.leaks(&out).is_empty());
        let back = p.reverse(&out);
        assert_eq!(
            back,
            r"CORP\jdoe on FIN-WS-042 (10.1.2.3) mailed j.doe@corp.example; jdoe again. Badge EMP-12345."
        );
    }

    #[test]
    fn only_standalone_values_are_replaced_and_leaks_name_kinds() {
        let mut p = p();
        // 10.1.2.30 is another address; jdoes is another word; FIN-WS-0421 another host.
        let text = "10.1.2.30 jdoes FIN-WS-0421";
        assert_eq!(p.apply(text), text);
        assert!(p.leaks(text).is_empty());
        assert_eq!(
            p.leaks("login by JDOE from 10.1.2.3"),
            [Kind::User, Kind::InternalIp]
        );
        assert_eq!(
            p.learn(Kind::User, "al"),
            None,
            "too short to replace safely"
        );
    }
}
