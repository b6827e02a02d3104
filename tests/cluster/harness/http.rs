//! A minimal HTTP/1.1 client for the API tests: one request per connection, any status.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The header lines, as sent (status line excluded).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The API error code of an error answer.
    pub fn code(&self) -> i64 {
        self.json()["error_code"].as_i64().unwrap_or_else(|| panic!("no error_code: {}", self.body))
    }
}

/// Sends `method path` with an optional body (`content_type` when given) and extra headers.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    headers: &[(&str, &str)],
) -> Answer {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let payload = match body {
            Some((ctype, bytes)) => {
                if !ctype.is_empty() {
                    head.push_str(&format!("Content-Type: {ctype}\r\n"));
                }
                head.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
                bytes.to_vec()
            }
            None => Vec::new(),
        };
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.expect("write head");
        // A server may answer (413) and close before reading a large body.
        let _ = s.write_all(&payload).await;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
        let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line");
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Answer { status, headers, body }
    };
    tokio::time::timeout(Duration::from_secs(60), fut).await.expect("HTTP answer within 60 s")
}

pub async fn get(addr: &str, path: &str) -> Answer {
    request(addr, "GET", path, None, &[]).await
}

pub async fn post_json(addr: &str, path: &str, body: &serde_json::Value) -> Answer {
    request(addr, "POST", path, Some(("application/json", body.to_string().as_bytes())), &[]).await
}

pub async fn delete(addr: &str, path: &str) -> Answer {
    request(addr, "DELETE", path, None, &[]).await
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n.min(rest.len())]);
        body = rest.get(n + 2..).unwrap_or("");
    }
    out
}
