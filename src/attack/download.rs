//! Fetching the ATT&CK bundle over HTTP(S) when no local copy is configured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(
        "cannot download the ATT&CK bundle from {url}: {message}; on a network without internet \
         access, copy enterprise-attack.json beside the tool and pass `ingest --from FILE`"
    )]
    Http { url: String, message: String },
    #[error("cannot write the downloaded bundle to {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Downloads `url` to `dest` (via a temporary file renamed into place, so an interrupted
/// download never looks complete). `progress(done, total)` is called as bytes arrive.
pub async fn fetch(
    url: &str,
    dest: &Path,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<(), DownloadError> {
    let http = |message: String| DownloadError::Http {
        url: url.to_string(),
        message,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .user_agent(concat!("soc-copilot/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| http(e.to_string()))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| http(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(http(format!("the server answered {status}")));
    }
    let total = response.content_length();
    let io = |source| DownloadError::Io {
        path: dest.to_path_buf(),
        source,
    };
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let partial = dest.with_extension("part");
    let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
    let mut done = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| http(format!("the transfer broke off after {done} bytes: {e}")))?;
        file.write_all(&chunk).await.map_err(io)?;
        done += chunk.len() as u64;
        progress(done, total);
    }
    file.flush().await.map_err(io)?;
    drop(file);
    if let Some(t) = total
        && done < t
    {
        return Err(http(format!(
            "the transfer ended after {done} of {t} bytes"
        )));
    }
    tokio::fs::rename(&partial, dest).await.map_err(io)?;
    Ok(())
}
