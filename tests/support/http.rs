//! A minimal HTTP/1.1 server on an ephemeral loopback port: fixed routes, real status
//! lines and headers, and a way to cut a body short the way a dying connection does.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

#[derive(Clone)]
pub struct Route {
    pub path: String,
    pub status: u16,
    pub body: Vec<u8>,
    /// Send only this many body bytes (after announcing the full Content-Length), then close.
    pub cut_after: Option<usize>,
}

impl Route {
    pub fn ok(path: &str, body: Vec<u8>) -> Route {
        Route {
            path: path.into(),
            status: 200,
            body,
            cut_after: None,
        }
    }
}

pub struct Server {
    pub addr: std::net::SocketAddr,
}

impl Server {
    pub fn start(routes: Vec<Route>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let routes = Arc::new(routes);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = routes.clone();
                thread::spawn(move || serve(stream, &routes));
            }
        });
        Server { addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

fn serve(mut stream: TcpStream, routes: &[Route]) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let (status, body, cut) = match routes.iter().find(|r| r.path == path) {
        Some(r) => (r.status, r.body.clone(), r.cut_after),
        None => (404, b"{\"message\":\"Not Found\"}".to_vec(), None),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let sent = cut.unwrap_or(body.len()).min(body.len());
    let _ = stream.write_all(&body[..sent]);
    let _ = stream.flush();
}

/// One request as the local API servers read it: method, target (path and query), headers
/// by lower-case name, and the body by its Content-Length. `None` when the peer closed or
/// sent something that is not a request.
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => return None,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            Ok(_) => {
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}
