//! TLS on the PostgreSQL front door: with `[postgres] tls_cert` and
//! `tls_key` (or `--pg-tls-cert`/`--pg-tls-key`), `SSLRequest` is answered
//! `S` and the handshake presents the configured certificate; without them,
//! `N`. Clients: tokio-postgres over rustls (`SSLRequest` and direct TLS)
//! and `psql` (`sslmode=require`, `verify-full`). Certificate files that
//! cannot serve stop the node from starting, naming the file.

#![allow(clippy::unwrap_used)]

mod common;

use orbit_server::config::ConfigError;
use orbit_server::{Config, Node, NodeError};
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::{SslMode, SslNegotiation};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A self-signed certificate for `localhost` and 127.0.0.1, and its key, in
/// PEM files.
struct TestCert {
    der: CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
}

fn self_signed(dir: &Path, name: &str) -> TestCert {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.subject_alt_names.push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    TestCert { der: cert.der().clone(), cert: cert_path, key: key_path }
}

fn config(tls: Option<&TestCert>) -> Config {
    let mut config = Config::ephemeral();
    if let Some(tls) = tls {
        config.postgres.tls_cert = Some(tls.cert.clone());
        config.postgres.tls_key = Some(tls.key.clone());
    }
    config
}

async fn start(tls: Option<&TestCert>) -> (Node, SocketAddr) {
    let node = Node::builder(config(tls)).with_builtin_kinds().start().await.expect("node starts");
    let addr = node.pg_addr().expect("the node serves PostgreSQL");
    (node, addr)
}

/// A rustls client trusting `root` only.
fn trusting(root: &TestCert, alpn: bool) -> MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if alpn {
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    MakeRustlsConnect::new(config)
}

/// A tokio-postgres connection with `sslmode=require` to 127.0.0.1 (the
/// name rustls checks against the certificate).
async fn connect_tls(
    addr: SocketAddr,
    tls: MakeRustlsConnect,
    negotiation: SslNegotiation,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config.host(addr.ip().to_string()).port(addr.port()).user("app").dbname("orbit");
    config.ssl_mode(SslMode::Require).ssl_negotiation(negotiation);
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// An error and its causes, joined (tokio-postgres' own message only says
/// "error performing TLS handshake").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn tokio_postgres_queries_over_tls_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server, other) = (self_signed(dir.path(), "server"), self_signed(dir.path(), "other"));
    let (node, addr) = start(Some(&server)).await;

    let client = connect_tls(addr, trusting(&server, false), SslNegotiation::Postgres)
        .await
        .unwrap_or_else(|e| panic!("TLS to a server whose certificate is trusted: {}", chain(&e)));
    assert_eq!(common::sql::rows(&client, "SELECT 1 + 1").await, vec!["2"]);
    client.simple_query("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)").await.unwrap();
    client.simple_query("INSERT INTO notes VALUES (1, 'over TLS')").await.unwrap();
    assert_eq!(common::sql::rows(&client, "SELECT body FROM notes WHERE id = 1").await, vec!["over TLS"]);

    // A client trusting another certificate fails in the handshake: the
    // server did speak TLS, and presented the configured certificate.
    let refused = connect_tls(addr, trusting(&other, false), SslNegotiation::Postgres).await;
    let Err(error) = refused else { panic!("a client trusting another certificate is refused") };
    assert!(chain(&error).contains("invalid peer certificate"), "{}", chain(&error));

    // Clients that do not ask for TLS still connect in plaintext.
    let plain = common::sql::connect(addr).await;
    assert_eq!(common::sql::rows(&plain, "SELECT body FROM notes WHERE id = 1").await, vec!["over TLS"]);
    node.shutdown().await.unwrap();
}

/// PostgreSQL 17's `sslnegotiation=direct`: TLS from the first byte, with
/// the `postgresql` ALPN name, no `SSLRequest`.
#[tokio::test(flavor = "multi_thread")]
async fn direct_tls_negotiates_the_postgresql_alpn_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = self_signed(dir.path(), "server");
    let (node, addr) = start(Some(&server)).await;
    let client = connect_tls(addr, trusting(&server, true), SslNegotiation::Direct)
        .await
        .unwrap_or_else(|e| panic!("direct TLS: {}", chain(&e)));
    assert_eq!(common::sql::rows(&client, "SELECT 1").await, vec!["1"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmode_require_is_refused_by_a_node_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = self_signed(dir.path(), "server");
    let (node, addr) = start(None).await;
    let refused = connect_tls(addr, trusting(&server, false), SslNegotiation::Postgres).await;
    let Err(error) = refused else { panic!("sslmode=require against a node without TLS") };
    assert!(chain(&error).contains("server does not support TLS"), "{}", chain(&error));
    node.shutdown().await.unwrap();
}

/// `psql -c 'SELECT 1'` with connection string `conninfo`. `HOME` is a
/// scratch directory, so no `~/.postgresql/root.crt` turns `require` into
/// `verify-ca`.
async fn psql(home: &Path, conninfo: &str) -> std::process::Output {
    tokio::process::Command::new("psql")
        .arg(conninfo)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", "SELECT 1"])
        .env("HOME", home)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_connects_with_sslmode_require_and_verify_full() {
    if !common::require_program("psql") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (server, other) = (self_signed(dir.path(), "server"), self_signed(dir.path(), "other"));
    let (node, addr) = start(Some(&server)).await;
    let port = addr.port();

    let required = format!("host=127.0.0.1 port={port} user=app dbname=orbit sslmode=require");
    let required = psql(dir.path(), &required).await;
    assert!(required.status.success(), "{}", String::from_utf8_lossy(&required.stderr));
    assert_eq!(String::from_utf8_lossy(&required.stdout).trim(), "1");

    // verify-full: the chain checked against the root file, and the name
    // (`host`, reached at `hostaddr`) against the certificate.
    let full = |root: &Path| {
        let target = format!("hostaddr=127.0.0.1 host=localhost port={port} user=app dbname=orbit");
        format!("{target} sslmode=verify-full sslrootcert={}", root.display())
    };
    let verified = psql(dir.path(), &full(&server.cert)).await;
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    assert_eq!(String::from_utf8_lossy(&verified.stdout).trim(), "1");

    let untrusted = psql(dir.path(), &full(&other.cert)).await;
    assert!(!untrusted.status.success(), "verify-full against another root must fail");
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_sslmode_require_fails_against_a_node_without_tls() {
    if !common::require_program("psql") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start(None).await;
    let conninfo = format!("host=127.0.0.1 port={} user=app dbname=orbit sslmode=require", addr.port());
    let refused = psql(dir.path(), &conninfo).await;
    assert!(!refused.status.success(), "sslmode=require against a node without TLS must fail");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("server does not support SSL"), "{stderr}");
    node.shutdown().await.unwrap();
}

/// The reason a node with `config` does not start.
async fn refused_start(config: Config) -> NodeError {
    Node::builder(config).with_builtin_kinds().start().await.err().expect("the node refuses to start")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_refuses_to_start_with_tls_files_that_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (server, other) = (self_signed(dir.path(), "server"), self_signed(dir.path(), "other"));

    let mut half = config(None);
    half.postgres.tls_cert = Some(server.cert.clone());
    let error = refused_start(half).await;
    assert!(error.to_string().contains("postgres.tls_cert needs postgres.tls_key"), "{error}");

    // The key of another certificate.
    let mut mismatched = config(Some(&server));
    mismatched.postgres.tls_key = Some(other.key.clone());
    let error = refused_start(mismatched).await;
    match &error {
        NodeError::Config(ConfigError::Tls { path, .. }) => assert_eq!(path, &other.key),
        unexpected => panic!("expected a TLS configuration error, got {unexpected}"),
    }
    assert!(error.to_string().contains("cannot be used with the certificate"), "{error}");

    // A certificate file given as the key.
    let mut swapped = config(Some(&server));
    swapped.postgres.tls_key = Some(server.cert.clone());
    let error = refused_start(swapped).await;
    assert!(error.to_string().contains("no private key in it"), "{error}");
    assert!(error.to_string().contains("server.crt"), "{error}");

    let garbage = dir.path().join("garbage.pem");
    let not_base64 = "-----BEGIN CERTIFICATE-----\n%% not base64 %%\n-----END CERTIFICATE-----\n";
    std::fs::write(&garbage, not_base64).unwrap();
    let mut unreadable = config(Some(&server));
    unreadable.postgres.tls_cert = Some(garbage);
    let error = refused_start(unreadable).await;
    let text = error.to_string();
    assert!(text.contains("garbage.pem") && text.contains("not valid PEM"), "{text}");
}

/// The binary: `--pg-tls-cert`/`--pg-tls-key` turn TLS on; one without the
/// other is refused before anything starts.
#[tokio::test(flavor = "multi_thread")]
async fn binary_takes_the_certificate_and_key_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let server = self_signed(dir.path(), "server");
    let (cert, key) = (server.cert.to_str().unwrap(), server.key.to_str().unwrap());
    let data = dir.path().join("data");
    let (spawned, _) = common::spawn_node_with(&data, &["--pg-tls-cert", cert, "--pg-tls-key", key]).await;
    let client = connect_tls(spawned.pg, trusting(&server, false), SslNegotiation::Postgres)
        .await
        .unwrap_or_else(|e| panic!("TLS to the binary: {}", chain(&e)));
    assert_eq!(common::sql::rows(&client, "SELECT 1").await, vec!["1"]);
    drop(spawned);

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_orbit-server"))
        .args(["--pg-tls-cert", cert, "--print-config"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("postgres.tls_cert needs postgres.tls_key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cleartext_passwords_without_tls_are_warned_about_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orbit.toml");
    let toml = "[postgres]\nauth = \"password\"\nusers = [{ name = \"app\", password = \"secret\" }]\n";
    std::fs::write(&file, toml).unwrap();
    let data = dir.path().join("data");
    let (_spawned, log) = common::spawn_node_with(&data, &["--config", file.to_str().unwrap()]).await;
    assert!(log.iter().any(|line| line.contains("WARN") && line.contains("cleartext")), "{log:#?}");
}
