//! How a model is called and what it costs: generation settings and the price per token.

use super::Usage;

/// Generation settings and the price of the model, per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSettings {
    pub max_tokens: u32,
    pub temperature: f32,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Ask an OpenAI-compatible server for schema-constrained JSON (`response_format`).
    pub json_schema: bool,
}

impl ModelSettings {
    pub fn cost(&self, u: Usage) -> f64 {
        (u.input_tokens as f64 * self.input_per_mtok
            + u.output_tokens as f64 * self.output_per_mtok)
            / 1e6
    }
}
