//! Follow-up chat messages per alert, kept so a conversation comes back next time.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, args, now};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    pub engine: Option<String>,
    pub model: Option<String>,
    pub created_at: String,
}

impl Store {
    pub fn add_chat_message(
        &mut self,
        alert_row: i64,
        role: &str,
        content: &str,
        engine: Option<&str>,
        model: Option<&str>,
        tokens: (u64, u64),
    ) -> Result<i64, StoreError> {
        self.db()
            .query_one(
                "INSERT INTO chat_messages (alert_id, role, content, engine, model, input_tokens, output_tokens, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             RETURNING id",
                args![alert_row, role, content, engine, model, tokens.0 as i64, tokens.1 as i64, now()],
            )?
            .get(0)
    }

    pub fn chat_for(&self, alert_row: i64) -> Result<Vec<ChatMessage>, StoreError> {
        self.db()
            .query(
                "SELECT role, content, engine, model, created_at FROM chat_messages WHERE alert_id = ?1 ORDER BY id",
                args![alert_row],
            )?
            .iter()
            .map(|r| {
                Ok(ChatMessage {
                    role: r.get(0)?,
                    content: r.get(1)?,
                    engine: r.get(2)?,
                    model: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })
            .collect()
    }
}
