//! The extended protocol's replies on the wire, from a hand-written client:
//! like PostgreSQL, the server answers Parse, Bind and Execute when the
//! client asks (Sync or Flush), in one write, and not before.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::start;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A frontend message: type byte, length, body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn parse(sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, ""); // the unnamed statement
    cstr(&mut body, sql);
    body.extend_from_slice(&0i16.to_be_bytes()); // no parameter types
    message(b'P', &body)
}

fn bind() -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, ""); // portal
    cstr(&mut body, ""); // statement
    body.extend_from_slice(&0i16.to_be_bytes()); // parameter formats
    body.extend_from_slice(&0i16.to_be_bytes()); // parameters
    body.extend_from_slice(&0i16.to_be_bytes()); // result formats: text
    message(b'B', &body)
}

fn execute() -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, "");
    body.extend_from_slice(&0i32.to_be_bytes()); // all rows
    message(b'E', &body)
}

/// Reads backend messages up to and including one of type `last`; returns
/// their types.
async fn read_until(stream: &mut TcpStream, last: u8) -> Vec<u8> {
    let mut kinds = Vec::new();
    loop {
        let kind = stream.read_u8().await.expect("a message");
        let len = stream.read_i32().await.unwrap();
        let mut body = vec![0; len as usize - 4];
        stream.read_exact(&mut body).await.unwrap();
        kinds.push(kind);
        if kind == last {
            return kinds;
        }
    }
}

/// Whether any byte arrives within `wait`.
async fn quiet(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(wait, stream.peek(&mut byte)).await.is_err()
}

#[tokio::test]
async fn extended_protocol_replies_wait_for_sync_or_flush() {
    let (node, addr) = start().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut startup = Vec::new();
    startup.extend_from_slice(&196608i32.to_be_bytes()); // protocol 3.0
    cstr(&mut startup, "user");
    cstr(&mut startup, "app");
    cstr(&mut startup, "database");
    cstr(&mut startup, "orbit");
    startup.push(0);
    let mut framed = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&startup);
    stream.write_all(&framed).await.unwrap();
    read_until(&mut stream, b'Z').await;

    // Parse, Bind, Execute: nothing is owed until the client asks.
    let mut batch = parse("SELECT 1 AS one");
    batch.extend(bind());
    batch.extend(execute());
    stream.write_all(&batch).await.unwrap();
    assert!(quiet(&mut stream, Duration::from_millis(300)).await, "replies before Sync or Flush");

    // Flush: everything so far, without ReadyForQuery.
    stream.write_all(&message(b'H', &[])).await.unwrap();
    assert_eq!(read_until(&mut stream, b'C').await, b"12DC");
    assert!(quiet(&mut stream, Duration::from_millis(100)).await, "more than the flushed replies");

    // Bind, Execute, Sync: the rest, then ReadyForQuery.
    let mut batch = bind();
    batch.extend(execute());
    batch.extend(message(b'S', &[]));
    stream.write_all(&batch).await.unwrap();
    assert_eq!(read_until(&mut stream, b'Z').await, b"2DCZ");

    // An error reply is not held back either: Sync brings the error and
    // ReadyForQuery.
    let mut batch = parse("SELECT * FROM no_such_table");
    batch.extend(message(b'S', &[]));
    stream.write_all(&batch).await.unwrap();
    assert_eq!(read_until(&mut stream, b'Z').await, b"EZ");

    stream.write_all(&message(b'X', &[])).await.unwrap();
    node.shutdown().await.unwrap();
}
