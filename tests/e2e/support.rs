//! Test fixtures: sandboxes, a declarative folder builder, a folder listing that captures
//! everything pods promises to keep, and a local sshd.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A folder under the sandbox, created empty.
    pub fn folder(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(&path).expect("create folder");
        path
    }

    /// A bare git repository to use as a remote.
    pub fn bare_remote(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        git(&["init", "--quiet", "--bare", path.to_str().expect("utf-8")]);
        path
    }

    /// A `pods` invocation with this home and data folder.
    pub fn pods(&self, home: &str, data: &Path) -> Pods {
        Pods { home: self.path(home), data: data.to_path_buf(), env: Vec::new() }
    }
}

#[derive(Clone)]
pub struct Pods {
    pub home: PathBuf,
    pub data: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Pods {
    pub fn with_env(mut self, key: &str, value: &str) -> Pods {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pods"));
        cmd.args(args)
            .env_remove("POD_HOME")
            .env_remove("DATA_DIR")
            .env("POD_HOME", &self.home)
            .env("DATA_DIR", &self.data)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run pods")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pods {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "pods {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).expect("valid JSON")
    }
}

pub fn git(args: &[&str]) -> String {
    let out = Command::new("git").args(args).output().expect("run git");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a folder entry should be.
pub enum Spec<'a> {
    File(&'a [u8], u32),
    Dir(u32),
    Symlink(&'a str),
}

/// Builds entries under `root`; parents are created as needed. Paths may be raw bytes.
pub fn build(root: &Path, entries: &[(&[u8], Spec)]) {
    for (rel, spec) in entries {
        let path = root.join(std::ffi::OsStr::from_bytes(rel));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("parent");
        }
        match spec {
            Spec::File(content, mode) => {
                fs::write(&path, content).expect("write file");
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).expect("chmod");
            }
            Spec::Dir(mode) => {
                fs::create_dir_all(&path).expect("dir");
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).expect("chmod");
            }
            Spec::Symlink(target) => std::os::unix::fs::symlink(target, &path).expect("symlink"),
        }
    }
}

pub use pods_engine::ops::noise;

/// Everything pods keeps about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    File { mode: u32, mtime_ns: i64, content: blake3::Hash, size: u64 },
    Dir { mode: u32, mtime_ns: i64 },
    Symlink { target: Vec<u8> },
}

/// Every entry below `root` (not `root` itself), by relative path bytes.
pub fn listing(root: &Path) -> BTreeMap<Vec<u8>, Listed> {
    let mut out = BTreeMap::new();
    walk(root, b"", &mut out);
    out
}

fn walk(dir: &Path, rel: &[u8], out: &mut BTreeMap<Vec<u8>, Listed>) {
    for entry in fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        let child_rel = if rel.is_empty() { name.as_bytes().to_vec() } else { [rel, b"/", name.as_bytes()].concat() };
        let meta = fs::symlink_metadata(entry.path()).expect("stat");
        let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        let listed = if meta.file_type().is_symlink() {
            Listed::Symlink { target: fs::read_link(entry.path()).expect("readlink").as_os_str().as_bytes().to_vec() }
        } else if meta.is_dir() {
            walk(&entry.path(), &child_rel, out);
            Listed::Dir { mode: meta.mode() & 0o7777, mtime_ns }
        } else {
            let content = blake3::hash(&fs::read(entry.path()).expect("read"));
            Listed::File { mode: meta.mode() & 0o7777, mtime_ns, content, size: meta.len() }
        };
        out.insert(child_rel, listed);
    }
}

/// Asserts two folders hold the same entries: kinds, content, permission bits, mtimes of
/// files and directories, symlink targets, empty directories, odd names.
pub fn assert_same_folder(a: &Path, b: &Path) {
    let (la, lb) = (listing(a), listing(b));
    let names =
        |l: &BTreeMap<Vec<u8>, Listed>| l.keys().map(|k| String::from_utf8_lossy(k).into_owned()).collect::<Vec<_>>();
    assert_eq!(names(&la), names(&lb), "different paths in {} and {}", a.display(), b.display());
    for (path, entry) in &la {
        assert_eq!(Some(entry), lb.get(path), "entry {} differs", String::from_utf8_lossy(path));
    }
}

/// Files under a remote branch's `packs/`, with sizes, read with plain git.
pub fn remote_packs(remote: &Path, branch: &str) -> BTreeMap<String, u64> {
    let out = git(&["--git-dir", remote.to_str().expect("utf-8"), "ls-tree", "-r", "-l", branch, "packs/"]);
    out.lines()
        .map(|line| {
            let (meta, path) = line.split_once('\t').expect("ls-tree line");
            let size = meta.split_whitespace().nth(3).expect("size").parse().expect("number");
            (path.to_string(), size)
        })
        .collect()
}

/// An sshd on 127.0.0.1 with a fresh host key and a client key; stopped on drop.
pub struct Sshd {
    child: Child,
    pub port: u16,
    pub ssh_command: String,
    pub user: String,
    _dir: tempfile::TempDir,
}

impl Sshd {
    pub fn start() -> Sshd {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        for key in ["host_key", "client_key"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .output()
                .expect("ssh-keygen (install openssh-client)");
            assert!(out.status.success(), "ssh-keygen failed");
        }
        fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
            .expect("utf-8")
            .trim()
            .to_string();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n\
             AllowUsers {user}\nSubsystem sftp internal-sftp\n",
            d = d.display()
        );
        fs::write(d.join("sshd_config"), config).expect("sshd_config");
        let _ = fs::create_dir_all("/run/sshd");
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("sshd not found: install openssh-server (.ci/run does)");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let ssh_command = format!(
            "ssh -i {}/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes",
            d.display()
        );
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Sshd { child, port, ssh_command, user, _dir: dir }
    }

    pub fn url(&self, path: &Path) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", self.user, self.port, path.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
