//! `--web.config.file` with real clients: curl over TLS, with certificates made by openssl,
//! and basic auth against a bcrypt hash.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed certificate for `subject` in `{name}.crt`, its key in `{name}.key`.
fn self_signed(dir: &Path, subject: &str, name: &str, extensions: &[&str]) {
    let (key, certificate) = (format!("{name}.key"), format!("{name}.crt"));
    let request = [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        subject,
        "-keyout",
        &key,
        "-out",
        &certificate,
    ];
    openssl(dir, &[&request[..], extensions].concat());
}

/// A server certificate for 127.0.0.1, self-signed (its own trust anchor for curl).
fn server_certificate(dir: &Path) {
    self_signed(
        dir,
        "/CN=localhost",
        "server",
        &["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    );
}

/// curl's exit code, the HTTP status it got ("000" for none), and the body.
fn curl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new("curl")
        .args(["--silent", "--max-time", "10"])
        .args(["--write-out", "\n%{http_code}"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("curl");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (body, status) = stdout.rsplit_once('\n').expect("the status after the body");
    (
        output.status.code().unwrap_or(-1),
        status.to_owned(),
        body.to_owned(),
    )
}

/// A `web.yml` in `dir` for TLS with a server certificate made there and one user, `alice`
/// with password `s3cret`, hashed at bcrypt `cost`. Its paths are relative to it, as the
/// exporter-toolkit reads them.
fn tls_with_alice(dir: &Path, cost: u32) {
    server_certificate(dir);
    let hash = bcrypt::hash("s3cret", cost).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  alice: {hash}\n"
        ),
    )
    .unwrap();
}

fn real_clients_available() -> bool {
    require_program("curl").is_some() && require_program("openssl").is_some()
}

fn start(dir: &Path) -> Exporter {
    let log = dir.join("access.log");
    append(&log, &lines("tls", 2));
    Exporter::start([
        "--log-file".as_ref(),
        log.as_os_str(),
        "--from-beginning".as_ref(),
        "--web.config.file".as_ref(),
        dir.join("web.yml").as_os_str(),
    ])
}

#[test]
fn tls_and_basic_auth_with_curl() {
    if !real_clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    tls_with_alice(dir.path(), 4);
    let exporter = start(dir.path());
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", exporter.address.port());
    let trusted = ["--cacert", "server.crt"];

    let (code, status, body) = curl(
        dir.path(),
        &[&trusted[..], &["--user", "alice:s3cret", &url("/metrics")]].concat(),
    );
    assert_eq!((code, status.as_str()), (0, "200"));
    assert_eq!(
        value(&body, "accesslog_lines_read_total"),
        Some(2.0),
        "{body}"
    );

    for wrong in [
        &[&trusted[..], &["--user", "alice:wrong", &url("/metrics")]].concat(),
        &[
            &trusted[..],
            &["--user", "mallory:s3cret", &url("/metrics")],
        ]
        .concat(),
        &[&trusted[..], &[url("/metrics").as_str()]].concat(),
        &[&trusted[..], &[url("/").as_str()]].concat(),
    ] {
        let (code, status, _) = curl(dir.path(), wrong);
        assert_eq!((code, status.as_str()), (0, "401"), "{wrong:?}");
    }

    // Plain HTTP to the TLS port gets no HTTP answer at all.
    let plain = format!("http://127.0.0.1:{}/metrics", exporter.address.port());
    let (code, status, _) = curl(dir.path(), &["--user", "alice:s3cret", &plain]);
    assert_ne!(code, 0);
    assert_eq!(status, "000");
    // Nor does a client that does not trust the certificate (curl: 60).
    let (code, _, _) = curl(dir.path(), &["--user", "alice:s3cret", &url("/metrics")]);
    assert_eq!(code, 60);
}

#[test]
fn client_certificates_are_required_when_the_file_says_so() {
    if !real_clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    server_certificate(d);
    self_signed(d, "/CN=test clients CA", "ca", &[]);
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=prometheus",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ],
    );
    std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "client.ext",
            "-out",
            "client.crt",
        ],
    );
    std::fs::write(
        d.join("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    .unwrap();
    let exporter = start(d);
    let url = format!("https://127.0.0.1:{}/metrics", exporter.address.port());

    let (code, status, _) = curl(
        d,
        &[
            "--cacert",
            "server.crt",
            "--cert",
            "client.crt",
            "--key",
            "client.key",
            &url,
        ],
    );
    assert_eq!((code, status.as_str()), (0, "200"));
    let (code, status, _) = curl(d, &["--cacert", "server.crt", &url]);
    assert_ne!(code, 0, "no client certificate, no answer");
    assert_eq!(status, "000");
}

#[test]
fn a_bad_web_config_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let config = dir.path().join("web.yml");
    std::fs::write(
        &config,
        "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
    )
    .unwrap();
    let err = one_line_error(
        Command::new(binary())
            .args(["--log-file".as_ref(), log.as_os_str()])
            .args(["--web.config.file".as_ref(), config.as_os_str()])
            .args(["--web.listen-address", "127.0.0.1:0"]),
        1,
    );
    assert!(
        err.contains("--web.config.file") && err.contains("nope.crt: expected PEM certificates"),
        "{err}"
    );
}

#[test]
fn a_connection_refused_for_want_of_a_slot_is_answered_503_over_tls() {
    if !real_clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A slow password check keeps the one slot answering for seconds.
    tls_with_alice(dir.path(), 13);
    let log = dir.path().join("access.log");
    append(&log, "");
    let exporter = Exporter::start([
        "--log-file".as_ref(),
        log.as_os_str(),
        "--web.max-connections".as_ref(),
        "1".as_ref(),
        "--web.config.file".as_ref(),
        dir.path().join("web.yml").as_os_str(),
    ]);
    let url = format!("https://127.0.0.1:{}/metrics", exporter.address.port());
    let holder = || {
        Command::new("curl")
            .args([
                "--silent",
                "--output",
                "/dev/null",
                "--cacert",
                "server.crt",
            ])
            .args(["--user", "alice:wrong", &url])
            .current_dir(dir.path())
            .spawn()
            .expect("curl")
    };
    let mut holding = holder();
    // Until the server has read the holder's request, the one of the two that came first is
    // idle, and the other takes its slot: the newcomer is answered 401 at once, or closed when
    // the holder connected last. The holder is sent again if it was closed.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (code, status, body) = curl(dir.path(), &["--cacert", "server.crt", &url]);
        if status == "503" {
            assert_eq!(code, 0, "an HTTP answer over TLS");
            assert!(body.ends_with("try again\n"), "{body}");
            break;
        }
        assert!(status == "401" || code != 0, "{code} {status}");
        if holding.try_wait().unwrap().is_some() {
            holding = holder();
        }
        assert!(std::time::Instant::now() < deadline, "never refused");
    }
    let _ = holding.kill();
    let _ = holding.wait();
}
