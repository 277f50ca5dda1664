//! What a model's answer said when it could not be made into a verdict: the level it named
//! and the technique ids it mentioned. Nothing here is validated; front ends show it marked
//! as such, so the analyst can see the model's opinion without the tool vouching for it.

use std::sync::LazyLock;

use regex::Regex;

use super::Level;

/// The model's unvalidated opinion, read from its raw answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Salvaged {
    pub level: Option<Level>,
    /// Technique ids in the order first mentioned, at most `MAX_TECHNIQUES`.
    pub techniques: Vec<String>,
}

const MAX_TECHNIQUES: usize = 12;

static LEVEL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    // `"verdict": "HIGH"`, `verdict: high`, `**Verdict:** CRITICAL`, `severity = low`.
    Regex::new(
        r#"(?i)\b(?:verdict|severity|level)\b[\s"'*_:=\-]{0,8}(critical|high|medium|low|benign)\b"#,
    )
    .ok()
});

static TECHNIQUE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\bT\d{4}(?:\.\d{3})?\b").ok());

impl Salvaged {
    pub fn is_empty(&self) -> bool {
        self.level.is_none() && self.techniques.is_empty()
    }
}

/// Reads the level and technique ids from an unusable answer. The last level named wins
/// (a model that corrects itself, or a repair turn after the first answer).
pub fn salvage(raw: &str) -> Salvaged {
    let level = LEVEL.as_ref().and_then(|re| {
        re.captures_iter(raw)
            .filter_map(|c| c.get(1).and_then(|m| Level::parse(m.as_str())))
            .last()
    });
    let mut techniques: Vec<String> = Vec::new();
    if let Some(re) = TECHNIQUE.as_ref() {
        for m in re.find_iter(raw) {
            let id = m.as_str().to_string();
            if !techniques.contains(&id) {
                techniques.push(id);
            }
            if techniques.len() == MAX_TECHNIQUES {
                break;
            }
        }
    }
    Salvaged { level, techniques }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_level_and_techniques_from_broken_json_and_prose() {
        let s = salvage(
            r#"Looks bad. {"verdict": "HIGH", "matched_techniques": [{"id": "T1059.001"}, {"id":"T1003"#,
        );
        assert_eq!(s.level, Some(Level::High));
        assert_eq!(s.techniques, vec!["T1059.001", "T1003"]);
        let s =
            salvage("**Verdict:** critical — LSASS read (T1003.001), then T1003.001 again, T1021");
        assert_eq!(s.level, Some(Level::Critical));
        assert_eq!(s.techniques, vec!["T1003.001", "T1021"]);
        let s = salvage("I cannot decide. The user is high on the list of admins.");
        assert_eq!(
            s.level, None,
            "a level needs the word verdict/severity/level before it"
        );
        assert!(s.is_empty());
    }

    #[test]
    fn the_last_level_named_wins() {
        let s = salvage("verdict: HIGH\n--- repair ---\n{\"verdict\": \"MEDIUM\"");
        assert_eq!(s.level, Some(Level::Medium));
    }
}
