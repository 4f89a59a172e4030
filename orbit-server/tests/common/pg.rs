//! A real PostgreSQL server for differential tests and benchmarks: the
//! Debian package's binaries, a fresh cluster in a temporary directory, on
//! a free loopback port. PostgreSQL refuses to run as root, so under root
//! it runs as the `postgres` user.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct RealPostgres {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RealPostgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory of the newest installed PostgreSQL's binaries.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("postgres").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program args...`, as the `postgres` user when running as root.
fn command(program: PathBuf, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Starts a throwaway PostgreSQL, or returns `None` (with a message) when it
/// is not installed; under CI a missing PostgreSQL is a failure.
pub fn start() -> Option<RealPostgres> {
    let Some(bin) = bin_dir() else {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL is required under CI but was not found");
        eprintln!("skipped: PostgreSQL is not installed (scripts/install-deps.sh --peers)");
        return None;
    };
    let root = is_root();
    let dir = tempfile::tempdir().unwrap();
    if root {
        let status = Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap();
        assert!(status.success(), "chown of the PostgreSQL directory");
    }
    let data = dir.path().join("data");
    let out = command(bin.join("initdb"), root)
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C"])
        .output()
        .unwrap();
    assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = command(bin.join("postgres"), root)
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(dir.path())
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .args(["-c", "max_connections=50"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = RealPostgres { child, port, _dir: dir };
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed().as_secs() < 30, "PostgreSQL did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(server)
}

impl RealPostgres {
    /// A `tokio-postgres` client of database `postgres`.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let started = std::time::Instant::now();
        loop {
            let mut config = tokio_postgres::Config::new();
            config.host("127.0.0.1").port(self.port).user("postgres").dbname("postgres");
            match config.connect(tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    return client;
                }
                // Accepting before it is ready for queries: retry briefly.
                Err(e) if started.elapsed().as_secs() < 30 => {
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot connect to PostgreSQL: {e}"),
            }
        }
    }
}
