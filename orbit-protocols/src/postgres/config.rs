//! The front door's settings: the `[postgres]` section of the node's
//! config, as the TOML file and `ORBIT__POSTGRES__*` spell them.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The PostgreSQL front door (`[postgres]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PgConfig {
    /// Serve the PostgreSQL protocol at all.
    pub enabled: bool,
    pub addr: SocketAddr,
    /// Connections served at once, as PostgreSQL's `max_connections`: one
    /// more gets FATAL 53300 `sorry, too many clients already` at startup.
    pub max_connections: usize,
    /// `trust` (no password), `password` (cleartext) or `scram-sha-256`.
    /// Without users only `trust` is possible.
    pub auth: PgAuth,
    pub users: Vec<PostgresUser>,
    /// PEM certificate chain (leaf first). With `tls_key`, `SSLRequest` is
    /// answered `S` and clients may use TLS; without both, `N`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            enabled: true,
            addr: ([0, 0, 0, 0], 5432).into(),
            max_connections: 100,
            auth: PgAuth::Trust,
            users: Vec::new(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PgAuth {
    /// Any user name is accepted without a password.
    #[serde(rename = "trust")]
    Trust,
    /// `AuthenticationCleartextPassword` (use with TLS only).
    #[serde(rename = "password")]
    Password,
    /// SCRAM-SHA-256 (the PostgreSQL default). Spelled as in
    /// `pg_hba.conf`; `scram-sha256` (what kebab-case made of the variant
    /// name before) is still read.
    #[serde(rename = "scram-sha-256", alias = "scram-sha256")]
    ScramSha256,
}

/// A user that `password` and `scram-sha-256` authentication accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresUser {
    pub name: String,
    pub password: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_is_spelled_as_in_pg_hba_conf() {
        #[derive(Deserialize, Serialize)]
        struct Wrapper {
            auth: PgAuth,
        }
        let read = |text: &str| serde_json::from_str::<Wrapper>(text).map(|w| w.auth).ok();
        assert_eq!(read(r#"{"auth": "scram-sha-256"}"#), Some(PgAuth::ScramSha256));
        assert_eq!(read(r#"{"auth": "scram-sha256"}"#), Some(PgAuth::ScramSha256));
        assert_eq!(read(r#"{"auth": "trust"}"#), Some(PgAuth::Trust));
        assert_eq!(read(r#"{"auth": "password"}"#), Some(PgAuth::Password));
        assert_eq!(read(r#"{"auth": "md5"}"#), None);
        let written = serde_json::to_string(&Wrapper { auth: PgAuth::ScramSha256 }).unwrap_or_default();
        assert_eq!(written, r#"{"auth":"scram-sha-256"}"#);
    }
}
