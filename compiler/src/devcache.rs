//! A local stand-in for Cloudflare's cache, behind workerd's Cache API (`caches.default`), for
//! `agentc dev` and the end-to-end tests.
//!
//! workerd sends every Cache API operation to the worker's `cacheApiOutbound` service as HTTP:
//! `cache.match(url)` is `GET url` (with `Cache-Control: only-if-cached`), answered with the
//! stored response and `CF-Cache-Status: HIT`, or a 504 with `CF-Cache-Status: MISS`;
//! `cache.put(url, response)` is `PUT url` whose body is the response serialized as an HTTP/1.1
//! message (status line, headers, body), answered 204; `cache.delete(url)` is `PURGE url`,
//! answered 200 or 404. Entries live in memory for the response's `s-maxage` or `max-age`;
//! responses without one, or with `no-store` or `private`, are not stored, as on Cloudflare.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest entry kept (Cloudflare's limit for one cached object is far larger; this only
/// bounds local memory).
const MAX_ENTRY_BYTES: usize = 8 << 20;

#[derive(Clone)]
struct Entry {
    expires: Instant,
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

type Store = Arc<Mutex<HashMap<String, Entry>>>;

/// Starts the cache service on an ephemeral loopback port, in background threads.
pub fn start() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let store: Store = Arc::default();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                if let Err(err) = serve(stream, &store) {
                    eprintln!("cache: {err}");
                }
            });
        }
    });
    Ok(addr)
}

/// Answers the requests of one connection.
fn serve(stream: TcpStream, store: &Store) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let headers = read_headers(&mut reader)?;
        let body = read_body(&mut reader, &headers)?;
        let host = header(&headers, "host").unwrap_or_default();
        // workerd sends the cache key's URL as an absolute target or as path and Host.
        let key = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_owned()
        } else {
            format!("{host}{target}")
        };
        let reply = match method {
            "GET" | "HEAD" => lookup(store, &key),
            "PUT" => {
                let stored =
                    parse_payload(&body).filter(|entry| entry.body.len() <= MAX_ENTRY_BYTES);
                match stored {
                    Some(entry) => {
                        store.lock().expect("cache lock").insert(key, entry);
                        simple("204 No Content", &[])
                    }
                    None if body.len() > MAX_ENTRY_BYTES => simple("413 Payload Too Large", &[]),
                    // Not cacheable (no max-age, no-store, private): accepted, not stored.
                    None => simple("204 No Content", &[]),
                }
            }
            "PURGE" => match store.lock().expect("cache lock").remove(&key) {
                Some(entry) if entry.expires > Instant::now() => simple("200 OK", &[]),
                _ => simple("404 Not Found", &[]),
            },
            _ => simple("405 Method Not Allowed", &[]),
        };
        out.write_all(&reply)?;
        out.flush()?;
        let close = header(&headers, "connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if close {
            return Ok(());
        }
    }
}

fn lookup(store: &Store, key: &str) -> Vec<u8> {
    let mut store = store.lock().expect("cache lock");
    let entry = match store.get(key) {
        Some(entry) if entry.expires > Instant::now() => entry.clone(),
        Some(_) => {
            store.remove(key);
            return simple("504 Gateway Timeout", &[("cf-cache-status", "MISS")]);
        }
        None => return simple("504 Gateway Timeout", &[("cf-cache-status", "MISS")]),
    };
    let mut out = format!("{}\r\n", entry.status_line);
    for (name, value) in &entry.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "cf-cache-status: HIT\r\ncontent-length: {}\r\n\r\n",
        entry.body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&entry.body);
    bytes
}

fn simple(status: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("content-length: 0\r\n\r\n");
    out.into_bytes()
}

fn read_headers(reader: &mut impl BufRead) -> std::io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            return Ok(headers);
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// A request body: by `content-length`, or chunked.
fn read_body(reader: &mut impl BufRead, headers: &[(String, String)]) -> std::io::Result<Vec<u8>> {
    let chunked = header(headers, "transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if !chunked {
        let length: usize = header(headers, "content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length.min(MAX_ENTRY_BYTES + (64 << 10))];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        if size == 0 {
            // Trailers, then the blank line.
            read_headers(reader)?;
            return Ok(body);
        }
        let mut chunk = vec![0; size];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk);
        let mut crlf = String::new();
        reader.read_line(&mut crlf)?;
    }
}

/// The entry a PUT's payload (a serialized HTTP response) makes, if it may be cached.
fn parse_payload(payload: &[u8]) -> Option<Entry> {
    let end = payload.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&payload[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?.to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut body = payload[end + 4..].to_vec();
    if let Some(length) = header(&headers, "content-length").and_then(|l| l.parse().ok()) {
        body.truncate(length);
    }
    headers.retain(|(n, _)| n != "content-length" && n != "transfer-encoding");
    let ttl = ttl(&header(&headers, "cache-control").unwrap_or_default())?;
    Some(Entry {
        expires: Instant::now() + ttl,
        status_line,
        headers,
        body,
    })
}

/// How long a response may be kept, from its `Cache-Control`.
fn ttl(cache_control: &str) -> Option<Duration> {
    let mut max_age = None;
    let mut s_maxage = None;
    for directive in cache_control
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
    {
        if directive == "no-store" || directive == "private" || directive == "no-cache" {
            return None;
        }
        if let Some(v) = directive.strip_prefix("s-maxage=") {
            s_maxage = v.parse::<u64>().ok();
        } else if let Some(v) = directive.strip_prefix("max-age=") {
            max_age = v.parse::<u64>().ok();
        }
    }
    s_maxage
        .or(max_age)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn request(addr: SocketAddr, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(raw).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn put_then_match_then_purge() {
        let addr = start().unwrap();
        let get = b"GET /v1/x HTTP/1.1\r\nhost: c.test\r\ncache-control: only-if-cached\r\nconnection: close\r\n\r\n";
        assert!(request(addr, get).contains("cf-cache-status: MISS"));
        let payload = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=60\r\ncontent-length: 2\r\n\r\n{}";
        let put = format!(
            "PUT /v1/x HTTP/1.1\r\nhost: c.test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
            payload.len()
        );
        assert!(request(addr, put.as_bytes()).starts_with("HTTP/1.1 204"));
        let hit = request(addr, get);
        assert!(hit.starts_with("HTTP/1.1 200 OK"), "{hit}");
        assert!(hit.contains("cf-cache-status: HIT"), "{hit}");
        assert!(hit.ends_with("\r\n\r\n{}"), "{hit}");
        let purge = b"PURGE /v1/x HTTP/1.1\r\nhost: c.test\r\nconnection: close\r\n\r\n";
        assert!(request(addr, purge).starts_with("HTTP/1.1 200"));
        assert!(request(addr, get).contains("MISS"));
    }

    #[test]
    fn only_responses_with_a_max_age_are_kept() {
        assert_eq!(ttl("max-age=60"), Some(Duration::from_secs(60)));
        assert_eq!(
            ttl("public, s-maxage=5, max-age=60"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(ttl("no-store, max-age=60"), None);
        assert_eq!(ttl(""), None);
    }
}
