//! LLM providers behind one streaming trait: HTTP and SSE stay in here.

pub mod anthropic;
pub mod client;
pub mod openai;
pub mod retry;
pub mod settings;
pub mod sse;

pub use client::{
    ChatRequest, Collected, LlmError, Message, Provider, Role, StreamEvent, ToolCall, ToolResult,
    ToolSpec, Usage, collect,
};
pub use settings::ModelSettings;
