//! Which engine triages: the configured or requested choice turned into an `Engine` — the
//! offline rules, or a model provider with the generation settings and prices that go with
//! it. The composition roots (CLI, console, API) call this once; nothing else asks.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::llm::anthropic::Anthropic;
use crate::llm::client::DriveOptions;
use crate::llm::openai::OpenAi;
use crate::llm::retry::RetryPolicy;
use crate::llm::{ModelSettings, Provider};

use super::engine::{Engine, OfflineEngine};
use super::model::{Escalate, ModelEngine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// Anthropic when an API key is configured, otherwise offline.
    Auto,
    /// Deterministic rules + ATT&CK retrieval; no network, no key.
    Offline,
    /// Claude through the Anthropic Messages API (ANTHROPIC_API_KEY).
    Anthropic,
    /// Any OpenAI-compatible server (Ollama, llama.cpp, vLLM) at [llm.openai] base_url.
    Openai,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("[llm] engine = {0:?} is not one of auto, offline, anthropic, openai")]
    UnknownEngine(String),
    #[error(
        "the anthropic engine needs an API key: set ANTHROPIC_API_KEY (or choose the offline engine)"
    )]
    NoKey,
    #[error("pseudonymisation cannot start: {0}")]
    Privacy(String),
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

fn configured_choice(config: &Config) -> Result<EngineChoice, SelectError> {
    Ok(match config.llm.engine.as_str() {
        "offline" => EngineChoice::Offline,
        "anthropic" => EngineChoice::Anthropic,
        "openai" => EngineChoice::Openai,
        "auto" => EngineChoice::Auto,
        other => return Err(SelectError::UnknownEngine(other.into())),
    })
}

/// The engine `choice` (or, with none, `[llm] engine`) names.
pub fn select(
    config: &Config,
    choice: Option<EngineChoice>,
) -> Result<Arc<dyn Engine>, SelectError> {
    select_with(config, choice, None)
}

/// As `select`, with `system` replacing the shipped system prompt of a model engine (the
/// offline engine has no prompt and ignores it).
pub fn select_with(
    config: &Config,
    choice: Option<EngineChoice>,
    system: Option<&str>,
) -> Result<Arc<dyn Engine>, SelectError> {
    let llm = &config.llm;
    let choice = match choice {
        Some(c) => c,
        None => configured_choice(config)?,
    };
    let opts = DriveOptions {
        retry: RetryPolicy {
            max_retries: llm.max_retries,
            ..RetryPolicy::default()
        },
        idle_timeout: Duration::from_secs(llm.idle_timeout_secs.max(1)),
    };
    let http = || {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .build()
    };
    let key = llm
        .anthropic
        .api_key
        .as_ref()
        .map(|k| k.0.clone())
        .filter(|k| !k.is_empty());
    let model = match (choice, &key) {
        (EngineChoice::Offline, _) | (EngineChoice::Auto, None) => {
            return Ok(Arc::new(OfflineEngine));
        }
        (EngineChoice::Anthropic, None) => return Err(SelectError::NoKey),
        (EngineChoice::Openai, _) => &llm.openai.model,
        _ => &llm.anthropic.model,
    };
    let privacy = crate::privacy::Privacy::from_config(config)
        .map_err(|e| SelectError::Privacy(e.to_string()))?;
    let provider_for = |model: &str| -> Result<Arc<dyn Provider>, SelectError> {
        let p: Arc<dyn Provider> =
            match (choice, key.as_deref()) {
                (EngineChoice::Anthropic | EngineChoice::Auto, Some(key)) => Arc::new(
                    Anthropic::new(&llm.anthropic.base_url, key, model, http()?, opts),
                ),
                _ => {
                    let key = llm
                        .openai
                        .api_key
                        .as_ref()
                        .map(|k| k.0.as_str())
                        .filter(|k| !k.is_empty());
                    Arc::new(OpenAi::new(&llm.openai.base_url, key, model, http()?, opts))
                }
            };
        Ok(match &privacy {
            Some(privacy) => crate::privacy::PrivateProvider::wrap(p, privacy.clone()),
            None => p,
        })
    };
    let json_schema = choice == EngineChoice::Openai && llm.openai.json_schema;
    let settings = |model: &str| {
        let price = llm.price(model);
        ModelSettings {
            max_tokens: llm.max_tokens,
            temperature: llm.temperature,
            input_per_mtok: price.input,
            output_per_mtok: price.output,
            json_schema,
        }
    };
    let mut engine = ModelEngine::new(provider_for(model)?, settings(model));
    if let Some(system) = system {
        engine = engine.with_system_prompt(system);
    }
    if let Some(privacy) = privacy.clone() {
        engine = engine.with_privacy(privacy);
    }
    if let Some(strong) = llm
        .escalate_model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty() && m != model)
    {
        engine = engine.with_escalation(Escalate {
            provider: provider_for(strong)?,
            settings: settings(strong),
            below: llm.escalate_below,
        });
    }
    Ok(Arc::new(engine))
}
