//! Offline stand-ins for the services HTTP tools call, for `agentc dev`.
//!
//! With a fixtures directory, the Worker's outbound requests (workerd's `globalOutbound`) come
//! here instead of going to the internet. A request to host `H` is answered with the JSON file
//! `H.json` of the directory, whatever its path; a host without a file gets a 502 that says how
//! to add one. Every request is logged, so a developer sees what their tools asked for.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

/// Starts the fixture server on an ephemeral loopback port, in a background thread.
pub fn start(dir: &Path) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                if let Err(err) = serve(stream, &dir) {
                    eprintln!("fixtures: {err}");
                }
            });
        }
    });
    Ok(addr)
}

/// One HTTP/1.1 request as the outbound servers of `agentc dev` and `agentc test` read it.
pub(crate) struct Request {
    pub request_line: String,
    /// The `Host` header.
    pub host: String,
}

/// Reads the request on `stream`: its request line and headers, and its body (as
/// `content-length` gives it, at most 1 MiB), which no answer depends on and is dropped.
pub(crate) fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let (mut host, mut length) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "host" => host = value.trim().to_owned(),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    Ok(Request { request_line, host })
}

/// Answers one request, then closes the connection.
fn serve(stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let Request { request_line, host } = read_request(&stream)?;
    let (status, answer) = answer(dir, &host);
    eprintln!("fixtures: {} {host} → {status}", request_line.trim());
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

/// The status line and JSON body for a request to `host`.
fn answer(dir: &Path, host: &str) -> (&'static str, String) {
    let name = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let file: PathBuf = dir.join(format!("{name}.json"));
    match safe.then(|| std::fs::read_to_string(&file).ok()).flatten() {
        Some(text) => ("200 OK", text),
        None => (
            "502 Bad Gateway",
            serde_json::json!({
                "error": format!(
                    "agentc dev is offline: no fixture for {name}; add {} or run `agentc dev --online`",
                    file.display()
                )
            })
            .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_from_the_host_file_or_explains() {
        let dir = tempdir();
        std::fs::write(dir.join("wttr.in.json"), r#"{"ok":true}"#).unwrap();
        assert_eq!(
            answer(&dir, "wttr.in"),
            ("200 OK", r#"{"ok":true}"#.to_owned())
        );
        assert_eq!(answer(&dir, "WTTR.in:443").0, "200 OK");
        let (status, body) = answer(&dir, "api.example.com");
        assert_eq!(status, "502 Bad Gateway");
        assert!(body.contains("no fixture for api.example.com"), "{body}");
        assert_eq!(answer(&dir, "../secret").0, "502 Bad Gateway");
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("agentc-fixtures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
