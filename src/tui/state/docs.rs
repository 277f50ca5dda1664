//! Documents the popups show, assembled by workers (they need the knowledge base).

/// What `t` shows about a technique.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TechniqueDetail {
    pub id: String,
    pub name: String,
    pub tactics: Vec<String>,
    pub platforms: Vec<String>,
    pub description: String,
    pub detection: Vec<String>,
    pub mitigations: Vec<String>,
    pub groups: Vec<String>,
    pub url: String,
}

/// What `p` shows: the request as it would go (or went) to the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreviewDoc {
    /// `would be sent to anthropic · claude-…` or `was sent to …` or `offline: nothing is sent`.
    pub heading: String,
    pub system: String,
    pub user: String,
    /// The fence around alert data in `user`; lines inside it came from the alert.
    pub delimiter: String,
    pub hash: String,
}

impl PreviewDoc {
    /// Each line of the user message with whether it came from the alert.
    pub fn marked_lines(&self) -> Vec<(bool, &str)> {
        let open = format!("<<{}>>", self.delimiter);
        let close = format!("<<END-{}>>", self.delimiter);
        let mut inside = false;
        self.user
            .lines()
            .map(|l| {
                if l == open {
                    inside = true;
                    (false, l)
                } else if l == close {
                    inside = false;
                    (false, l)
                } else {
                    (inside && !self.delimiter.is_empty(), l)
                }
            })
            .collect()
    }
}
