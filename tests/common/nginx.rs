//! A real nginx (Debian's `nginx-light`) in a prefix of its own, and the clients that load it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use super::{require_program, PATIENCE};

/// `program` from /usr/sbin, where Debian installs nginx and logrotate and a user's PATH may
/// not look, else from PATH (required in CI).
pub fn in_sbin(program: &str) -> Option<PathBuf> {
    let sbin = Path::new("/usr/sbin").join(program);
    match sbin.is_file() {
        true => Some(sbin),
        false => require_program(program),
    }
}

/// A free TCP port on the loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The directives every test's nginx needs to run unprivileged in `prefix`: pid, error log
/// and temporary files there, one worker, in the foreground.
pub fn main_directives(prefix: &Path) -> String {
    let p = prefix.display();
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    std::fs::create_dir_all(prefix.join("tmp")).unwrap();
    format!(
        "daemon off;\nworker_processes 1;\nuser root;\npid {p}/nginx.pid;\n\
         error_log {p}/error.log;\nevents {{ worker_connections 512; }}\n"
    )
}

/// The `http` directives that keep nginx's temporary files in `prefix`.
pub fn temp_paths(prefix: &Path) -> String {
    let p = prefix.display();
    format!(
        "client_body_temp_path {p}/tmp/body; proxy_temp_path {p}/tmp/proxy;\n\
         fastcgi_temp_path {p}/tmp/fastcgi; uwsgi_temp_path {p}/tmp/uwsgi;\n\
         scgi_temp_path {p}/tmp/scgi;\n"
    )
}

/// nginx running, stopped when dropped.
pub struct Nginx {
    child: Child,
    pub prefix: PathBuf,
    /// The port of its first server.
    pub port: u16,
}

impl Nginx {
    /// Runs `nginx -p prefix -c config` and waits until it listens on `port`.
    pub fn spawn(nginx: &Path, prefix: &Path, config: &Path, port: u16) -> Nginx {
        let child = Command::new(nginx)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(config)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx");
        let started = Nginx {
            child,
            prefix: prefix.to_owned(),
            port,
        };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx never listened");
            std::thread::yield_now();
        }
        started
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.prefix.join("logs").join(name)
    }

    pub fn url(&self, path: &str) -> String {
        url(self.port, path)
    }

    /// Sends `raw` as it is and reads the answer: for what curl will not send.
    pub fn raw(&self, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(raw).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

pub fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

pub fn curl(args: &[&str]) {
    let output = Command::new("curl")
        .args(["--silent", "--output", "/dev/null", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    assert!(output.status.success(), "curl {args:?}: {output:?}");
}

pub fn ab(args: &[&str]) {
    let output = Command::new("ab")
        .arg("-q")
        .args(args)
        .output()
        .expect("ab");
    assert!(output.status.success(), "ab {args:?}: {output:?}");
}
