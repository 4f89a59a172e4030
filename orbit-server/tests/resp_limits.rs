//! The front door's limits, configured small: too many clients, a bulk
//! string over `proto_max_bulk_len`, and a client that sends more than
//! `client_query_buffer_limit` without completing a request.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::start_with;
use orbit_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(common::resp::PATIENCE, stream.read_to_end(&mut out)).await;
    // A reset (the server closed with our bytes unread) ends the stream too.
    let _ = read.expect("the server closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_client_over_maxclients_is_refused_with_an_error() {
    let mut config = Config::ephemeral();
    config.resp.maxclients = 2;
    let (node, addr) = start_with(config).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    for stream in [&mut first, &mut second] {
        stream.write_all(b"PING\r\n").await.unwrap();
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"+PONG\r\n");
    }
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut third).await, "-ERR max number of clients reached\r\n");
    drop(first);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bulk_string_over_the_limit_is_a_protocol_error_before_it_is_buffered() {
    let mut config = Config::ephemeral();
    config.resp.proto_max_bulk_len = 1024;
    let (node, addr) = start_with(config).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2048\r\n").await.unwrap();
    assert_eq!(read_to_close(&mut stream).await, "-ERR Protocol error: invalid bulk length\r\n");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_over_the_query_buffer_limit_is_disconnected() {
    let mut config = Config::ephemeral();
    config.resp.proto_max_bulk_len = 8 * 1024 * 1024;
    config.resp.client_query_buffer_limit = 1024 * 1024;
    let (node, addr) = start_with(config).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000000\r\n").await.unwrap();
    // 2 MiB of a 4 MB value: more than the limit buffered, request incomplete.
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < 2 * 1024 * 1024 {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert_eq!(read_to_close(&mut stream).await, "");
    node.shutdown().await.unwrap();
}
