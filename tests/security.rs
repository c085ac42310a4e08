//! Authentication and TLS with real clients: SCRAM-SHA-256 passwords from tokio-postgres,
//! psql, psycopg and JDBC; TLS with `sslmode=verify-full` against a CA the test makes with
//! openssl; 28P01 alike for a wrong password, an unknown user and a role that may not log in;
//! authentication kept across a restart without the bootstrap password; secrets in neither
//! the log nor the data directory.

use riffle_tests::TestServer;
use std::path::{Path, PathBuf};
use std::process::Command;

const BOOT: &str = "boot-Secret-9f2c";
const ALICE: &str = "alice-Secret-41d7";

fn conn(port: u16, user: &str, password: &str) -> String {
    format!("host=127.0.0.1 port={port} user={user} password={password} dbname=riffle")
}

/// The SQLSTATE a failed connection attempt got.
async fn login_error(port: u16, user: &str, password: &str) -> (String, String) {
    match tokio_postgres::connect(&conn(port, user, password), tokio_postgres::NoTls).await {
        Ok(_) => panic!("{user} logged in with a wrong password"),
        Err(e) => {
            let db = e.as_db_error().unwrap_or_else(|| panic!("not a server error: {e}"));
            (db.code().code().to_string(), db.message().to_string())
        }
    }
}

async fn login(port: u16, user: &str, password: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&conn(port, user, password), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{user} could not log in: {e}"));
    tokio::spawn(connection);
    client
}

/// A CA and a server certificate for `localhost` / 127.0.0.1 it signed.
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Riffle test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

/// Whether any file under `dir` contains `needle`.
fn found_in_files(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(p) = found_in_files(&path, needle) {
                return Some(p);
            }
        } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            return Some(path);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_and_tls_with_real_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let password_file = tmp.path().join("password");
    std::fs::write(&password_file, format!("{BOOT}\n")).unwrap();
    let mut server = TestServer::start_in(&data, &["--password-file", password_file.to_str().unwrap()]);
    let port = server.port;

    // The bootstrap superuser logs in with its password and makes a login role.
    let admin = login(port, "riffle", BOOT).await;
    admin
        .batch_execute(&format!(
            "CREATE TABLE secrets (x int); INSERT INTO secrets VALUES (1); CREATE ROLE alice LOGIN PASSWORD '{ALICE}'; \
             CREATE ROLE nologin PASSWORD '{ALICE}'; GRANT SELECT ON secrets TO alice"
        ))
        .await
        .unwrap();
    let alice = login(port, "alice", ALICE).await;
    let row = alice.query_one("SELECT current_user, count(*) FROM secrets", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "alice");
    // A statement that fails while naming a password echoes nothing of it.
    let err = admin
        .batch_execute(&format!("ALTER ROLE nobody PASSWORD '{ALICE}'"))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(ALICE), "{err}");

    // Wrong password, unknown user, a role that may not log in: one answer.
    for (user, password) in [("riffle", "wrong"), ("alice", BOOT), ("nobody", ALICE), ("nologin", ALICE)] {
        let (code, message) = login_error(port, user, password).await;
        assert_eq!(code, "28P01", "{user}: {message}");
        assert_eq!(message, format!("password authentication failed for user \"{user}\""));
    }
    // psql without a password cannot get in either.
    let out = Command::new("psql")
        .args([
            "-w",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "riffle",
            "-d",
            "riffle",
            "-c",
            "SELECT 1",
        ])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    drop((admin, alice));

    // Restarted without the password (and now with TLS required): authentication stays on.
    server.kill9();
    let (ca, cert, key) = make_certs(tmp.path());
    let (cert, key) = (cert.to_str().unwrap().to_string(), key.to_str().unwrap().to_string());
    let server = TestServer::start_in(&data, &["--tls-cert", &cert, "--tls-key", &key, "--tls-required"]);
    let port = server.port;
    let plain = tokio_postgres::connect(&conn(port, "riffle", BOOT), tokio_postgres::NoTls)
        .await
        .err()
        .and_then(|e| e.as_db_error().map(|d| d.code().code().to_string()));
    assert_eq!(
        plain.as_deref(),
        Some("28000"),
        "a plain connection is refused under --tls-required"
    );

    // psql: verify-full checks the certificate against the CA and the host name; SCRAM with
    // channel binding.
    let psql = |sslmode: &str, host: &str, password: &str| {
        let dsn = format!(
            "host={host} port={port} user=alice dbname=riffle sslmode={sslmode} sslrootcert={} channel_binding=prefer",
            ca.display()
        );
        Command::new("psql")
            .args([dsn.as_str(), "-At", "-c", "SELECT current_user, count(*) FROM secrets"])
            .env("PGPASSWORD", password)
            .output()
            .unwrap()
    };
    let out = psql("verify-full", "localhost", ALICE);
    assert!(out.status.success(), "psql verify-full: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alice|1");
    let out = psql("verify-full", "localhost", "wrong");
    assert!(String::from_utf8_lossy(&out.stderr).contains("password authentication failed for user \"alice\""));
    let out = psql("disable", "localhost", ALICE);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // psycopg and JDBC, both verify-full.
    riffle_tests::run_python("security_test.py", &[&port.to_string(), ca.to_str().unwrap(), ALICE]);
    riffle_tests::run_java("SecurityTest", &[&port.to_string(), ca.to_str().unwrap(), ALICE]);

    // Secrets never reach the log or the data directory (only SCRAM verifiers do).
    for secret in [BOOT, ALICE] {
        assert!(!server.log().contains(secret), "the log holds a password");
        assert_eq!(found_in_files(&data, secret.as_bytes()), None, "a data file holds a password");
    }
}

/// Without a password the server keeps serving loopback with no authentication (the
/// README's one command), and refuses an address other hosts can reach unless told
/// `--auth trust`; a password given later turns authentication on for good.
#[tokio::test(flavor = "multi_thread")]
async fn trust_is_loopback_only_until_a_password_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = TestServer::start_in(&data, &[]);
    let client = login(server.port, "anyone", "ignored").await;
    let row = client.query_one("SELECT current_user", &[]).await.unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "riffle",
        "an unknown user connects as the bootstrap superuser"
    );
    drop(client);
    server.kill9();
    let server = TestServer::start_in(&data, &["--password", BOOT]);
    let (code, _) = login_error(server.port, "riffle", "wrong").await;
    assert_eq!(code, "28P01");
    login(server.port, "riffle", BOOT).await;
}
