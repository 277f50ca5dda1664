//! An incremental Server-Sent Events parser: bytes in as they arrive (split or coalesced
//! anywhere), complete events out.

/// One SSE event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

/// Longest line accepted; a server streaming an endless line is cut off, not buffered.
const MAX_LINE: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an SSE line exceeded {MAX_LINE} bytes")]
pub struct LineTooLong;

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            if let Some(ev) = self.line(&line) {
                out.push(ev);
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE {
            return Err(LineTooLong);
        }
        Ok(out)
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if self.data.is_empty() && self.event.is_none() {
                return None;
            }
            return Some(SseEvent {
                event: self.event.take().unwrap_or_else(|| "message".into()),
                data: std::mem::take(&mut self.data).join("\n"),
            });
        }
        if line.starts_with(':') {
            return None; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            _ => {} // id, retry: not needed here
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks() {
        let mut p = SseParser::new();
        assert!(
            p.feed(b"event: content_block_delta\r\nda")
                .expect("feed")
                .is_empty()
        );
        let ev = p.feed(b"ta: {\"a\":1}\r\n\r\n").expect("feed");
        assert_eq!(
            ev,
            vec![SseEvent {
                event: "content_block_delta".into(),
                data: "{\"a\":1}".into()
            }]
        );
    }

    #[test]
    fn coalesced_events_comments_and_multiline_data() {
        let mut p = SseParser::new();
        let ev = p
            .feed(b": ping\n\ndata: one\ndata: two\n\nevent: x\ndata:three\n\n")
            .expect("feed");
        assert_eq!(ev.len(), 2);
        assert_eq!(
            ev[0],
            SseEvent {
                event: "message".into(),
                data: "one\ntwo".into()
            }
        );
        assert_eq!(
            ev[1],
            SseEvent {
                event: "x".into(),
                data: "three".into()
            }
        );
    }

    #[test]
    fn byte_by_byte_matches_whole() {
        let input = b"event: a\ndata: \xc3\xa9t\xc3\xa9\n\n";
        let mut p = SseParser::new();
        let mut got = Vec::new();
        for b in input {
            got.extend(p.feed(&[*b]).expect("feed"));
        }
        assert_eq!(got[0].data, "été");
    }
}
