//! The knowledge base as the front ends share it while it opens in the background: a watch
//! channel whose value is `None` while loading, then the opened base or why it failed.

use std::sync::Arc;

use tokio::sync::watch;

use super::KnowledgeBase;

/// The knowledge base once opened (or why it could not be); `None` while it loads.
pub type KbSlot = Option<Result<Arc<KnowledgeBase>, String>>;

/// Waits until the knowledge base is open (or has failed to open).
pub async fn wait(rx: &mut watch::Receiver<KbSlot>) -> Result<Arc<KnowledgeBase>, String> {
    let slot = rx
        .wait_for(Option::is_some)
        .await
        .map_err(|_| "the knowledge base loader stopped".to_string())?;
    match &*slot {
        Some(r) => r.clone(),
        None => Err("the knowledge base is not open".into()),
    }
}
