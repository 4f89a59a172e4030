//! Scripts loaded with SCRIPT LOAD and function libraries, kept in storage
//! so they survive restarts: two hashes of the `redis:scripts` kind, `scripts`
//! (SHA1 -> body) and `functions` (library name -> code), written through
//! their key actors like any Redis hash (so they are durable and, in a
//! cluster, replicated). Scripts run only with EVAL stay in memory, as
//! Redis keeps them.

use crate::keyspace::{SCRIPTS_KIND, Value};
use crate::resp::server::Server;
use bytes::Bytes;
use orbit_shared::{ActorGateway, DurableToken};

const SCRIPTS: &[u8] = b"scripts";
const LIBRARIES: &[u8] = b"functions";

async fn write<G: ActorGateway>(server: &Server<G>, argv: &[&[u8]]) -> Result<DurableToken, Value> {
    let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    match server.call_kind(SCRIPTS_KIND, &argv, true).await {
        (Value::Error(e), _) => Err(Value::Error(e)),
        (_, token) => Ok(token),
    }
}

pub(crate) async fn save_script<G: ActorGateway>(
    server: &Server<G>,
    sha: &str,
    body: &[u8],
) -> Result<DurableToken, Value> {
    write(server, &[b"hset", SCRIPTS, sha.as_bytes(), body]).await
}

pub(crate) async fn forget_scripts<G: ActorGateway>(server: &Server<G>) -> Result<DurableToken, Value> {
    write(server, &[b"del", SCRIPTS]).await
}

pub(crate) async fn save_library<G: ActorGateway>(
    server: &Server<G>,
    name: &str,
    code: &str,
) -> Result<DurableToken, Value> {
    write(server, &[b"hset", LIBRARIES, name.as_bytes(), code.as_bytes()]).await
}

pub(crate) async fn forget_library<G: ActorGateway>(
    server: &Server<G>,
    name: &str,
) -> Result<DurableToken, Value> {
    write(server, &[b"hdel", LIBRARIES, name.as_bytes()]).await
}

pub(crate) async fn forget_libraries<G: ActorGateway>(server: &Server<G>) -> Result<DurableToken, Value> {
    write(server, &[b"del", LIBRARIES]).await
}

async fn pairs<G: ActorGateway>(
    server: &Server<G>,
    key: &'static [u8],
) -> Result<Vec<(Bytes, Bytes)>, Value> {
    let argv = [Bytes::from_static(b"hgetall"), Bytes::from_static(key)];
    let flat = match server.call_kind(SCRIPTS_KIND, &argv, false).await.0 {
        Value::Map(pairs) | Value::Pairs(pairs) => return Ok(pairs.into_iter().filter_map(both).collect()),
        Value::Array(items) => items,
        Value::Error(e) => return Err(Value::Error(e)),
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut items = flat.into_iter();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        out.extend(both((k, v)));
    }
    Ok(out)
}

fn both(pair: (Value, Value)) -> Option<(Bytes, Bytes)> {
    match pair {
        (Value::Bulk(k), Value::Bulk(v)) => Some((k, v)),
        _ => None,
    }
}

/// Every stored script (SHA1, body) and library (name, code).
pub(crate) async fn load_all<G: ActorGateway>(
    server: &Server<G>,
) -> Result<(Vec<(String, Bytes)>, Vec<String>), Value> {
    let scripts = pairs(server, SCRIPTS).await?;
    let libraries = pairs(server, LIBRARIES).await?;
    let scripts = scripts.into_iter().map(|(sha, body)| (String::from_utf8_lossy(&sha).into_owned(), body));
    let libraries = libraries.into_iter().map(|(_, code)| String::from_utf8_lossy(&code).into_owned());
    Ok((scripts.collect(), libraries.collect()))
}
