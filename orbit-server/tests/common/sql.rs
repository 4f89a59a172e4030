//! A node's PostgreSQL front door from `tokio-postgres`: start, connect,
//! and the simple-query helpers the SQL tests assert with.

use orbit_server::{Config, Node};
use std::net::SocketAddr;
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// An ephemeral node with its built-in kinds, and its PostgreSQL address.
pub async fn start() -> (Node, SocketAddr) {
    let node = Node::builder(Config::ephemeral()).with_builtin_kinds().start().await.expect("node starts");
    let addr = node.pg_addr().expect("the node serves PostgreSQL");
    (node, addr)
}

pub async fn connect(addr: SocketAddr) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config.host(addr.ip().to_string()).port(addr.port()).user("app").dbname("orbit");
    let (client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A connection whose notifications arrive on the receiver.
pub async fn listener(
    addr: SocketAddr,
) -> (tokio_postgres::Client, tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>) {
    let mut config = tokio_postgres::Config::new();
    config.host(addr.ip().to_string()).port(addr.port()).user("app").dbname("orbit");
    let (client, mut connection) = config.connect(NoTls).await.unwrap();
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = futures::StreamExt::next(&mut messages).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = sender.send(n);
            }
        }
    });
    (client, received)
}

/// The rows of a simple query, as text ("NULL" for NULL), one string per row.
pub async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).unwrap_or("NULL")).collect::<Vec<_>>().join("|"))
            }
            _ => None,
        })
        .collect()
}

/// The command tag's row count of a statement.
pub async fn count(client: &tokio_postgres::Client, sql: &str) -> u64 {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .unwrap()
}

/// The SQLSTATE of a statement that must fail.
pub async fn sqlstate(client: &tokio_postgres::Client, sql: &str) -> String {
    let error = client.simple_query(sql).await.expect_err(sql);
    error.code().unwrap_or_else(|| panic!("{sql}: no SQLSTATE in {error}")).code().to_string()
}
