//! A PKI made by the openssl CLI (RSA throughout) and `openssl s_server` serving it on loopback:
//! chains that pin-proxy did not make, for the client and the pins commands.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A PKI made by openssl, RSA throughout: root, intermediate, a leaf for `rsa.test`, and an
/// unrelated "decoy" CA whose certificate the server sends beside its chain.
pub struct OpensslPki {
    pub dir: tempfile::TempDir,
}

impl OpensslPki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| run(d, args);
        let ca = |name: &str, cn: &str| {
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "30",
                "-subj",
                &format!("/O=openssl test/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
        };
        ca("root", "openssl test root");
        ca("decoy", "openssl decoy root");
        std::fs::write(
            d.join("int.ext"),
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        std::fs::write(
            d.join("leaf.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:rsa.test\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        let signed = |name: &str, subj: &str, ca: &str, ext: &str| {
            run(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                subj,
            ]);
            run(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "30",
                "-extfile",
                ext,
            ]);
        };
        signed(
            "int",
            "/O=openssl test/CN=openssl test intermediate",
            "root",
            "int.ext",
        );
        signed("leaf", "/CN=rsa.test", "int", "leaf.ext");
        let mut sent = std::fs::read(d.join("int.pem")).unwrap();
        sent.extend(std::fs::read(d.join("decoy.pem")).unwrap());
        std::fs::write(d.join("sent-chain.pem"), sent).unwrap();
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The pin as the usual openssl pipeline computes it.
    pub fn pin(&self, name: &str) -> String {
        let cmd = format!(
            "openssl x509 -in {name}.pem -pubkey -noout | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | base64"
        );
        let out = Command::new("sh")
            .args(["-c", &cmd])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// `openssl s_server -WWW` on a free loopback port, sending leaf, intermediate and decoy.
    pub fn serve(&self) -> (Server, u16) {
        for _ in 0..20 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new("openssl")
                .args(["s_server", "-quiet", "-WWW", "-accept"])
                .arg(format!("127.0.0.1:{port}"))
                .args([
                    "-cert",
                    "leaf.pem",
                    "-key",
                    "leaf.key",
                    "-cert_chain",
                    "sent-chain.pem",
                ])
                .current_dir(self.dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return (Server(child), port);
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: another one
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("openssl s_server did not start");
    }
}

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs openssl in `dir`; panics with its stderr when it fails.
pub fn run(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
