//! `yungui push`, `pull`, `sign` and `verify` against a real OCI registry: Debian's
//! `docker-registry` (distribution 2.8, no referrers API) started by each test in a temporary
//! folder on a loopback port, stopped when the test ends, pass or fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::*;

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A registry of its own, with filesystem storage in its folder.
struct OciRegistry {
    dir: tempfile::TempDir,
    child: Child,
    addr: String,
}

impl OciRegistry {
    fn start() -> Self {
        assert!(
            Path::new(REGISTRY_BINARY).is_file(),
            "{REGISTRY_BINARY} is missing: install Debian's `docker-registry` package (apt-get install docker-registry); .ci/run does"
        );
        let dir = tempfile::Builder::new()
            .prefix("yungui-oci-")
            .tempdir()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("registry.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let registry = Self { dir, child, addr };
        let started = Instant::now();
        while ureq::get(&format!("http://{}/v2/", registry.addr))
            .call()
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the registry did not answer on {} within 20 s: {}",
                registry.addr,
                std::fs::read_to_string(registry.dir.path().join("registry.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// A reference in this registry.
    fn reference(&self, rest: &str) -> String {
        format!("{}/{rest}", self.addr)
    }

    /// Runs `yungui` with plain HTTP and no credentials (an empty docker config folder).
    fn yungui(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args(args)
            .arg("--plain-http")
            .env("DOCKER_CONFIG", self.dir.path())
            .env("YUNGUI_CACHE_DIR", cache_dir())
            .output()
            .unwrap()
    }

    /// Runs `yungui`, expects success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.yungui(args);
        assert!(
            out.status.success(),
            "yungui {args:?}: {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A manifest, raw, from the registry's HTTP API.
    fn manifest(&self, repository: &str, reference: &str) -> Vec<u8> {
        ureq::get(&format!(
            "http://{}/v2/{repository}/manifests/{reference}",
            self.addr
        ))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap()
    }

    /// Puts a manifest under a tag, as anyone with push rights can.
    fn put_manifest(&self, repository: &str, tag: &str, manifest: &[u8]) {
        ureq::put(&format!(
            "http://{}/v2/{repository}/manifests/{tag}",
            self.addr
        ))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(manifest)
        .unwrap();
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A P-256 key pair made by `openssl` as cosign's key-based mode uses: (private, public).
fn key_pair(dir: &Path, name: &str) -> (String, String) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl ecparam -genkey -name prime256v1 | openssl pkcs8 -topk8 -nocrypt -out {} && openssl pkey -in {} -pubout -out {}",
            private.display(),
            private.display(),
            public.display()
        ))
        .status()
        .unwrap();
    assert!(status.success(), "openssl could not make a P-256 key");
    (private.display().to_string(), public.display().to_string())
}

/// The shipped component with an extra custom section: a valid component, another digest.
fn tampered_plugin(dir: &Path) -> PathBuf {
    let mut wasm = std::fs::read(shipped_plugin()).unwrap();
    let name = b"tampered";
    let data = b"not what was signed";
    wasm.push(0); // a custom section
    wasm.push(u8::try_from(1 + name.len() + data.len()).unwrap());
    wasm.push(u8::try_from(name.len()).unwrap());
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(data);
    let path = dir.join("tampered.wasm");
    std::fs::write(&path, wasm).unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn push_then_pull_round_trips_byte_identical_with_the_wasm_layout() {
    let registry = OciRegistry::start();
    let reference = registry.reference("yungui/policies:v1");
    let digest = registry.ok(&["push", shipped_plugin(), &reference]);
    let digest = digest.trim();
    assert!(digest.starts_with("sha256:"), "{digest}");
    // The same component makes the same manifest: pushing it again, anywhere, gives its digest.
    let again = registry.ok(&[
        "push",
        shipped_plugin(),
        &registry.reference("other/name:x"),
    ]);
    assert_eq!(again.trim(), digest);

    let shipped = std::fs::read(shipped_plugin()).unwrap();
    let out = registry.dir.path().join("pulled.wasm");
    let pulled_digest = registry.ok(&["pull", &reference, "-o", out.to_str().unwrap()]);
    assert_eq!(pulled_digest.trim(), digest);
    assert!(
        std::fs::read(&out).unwrap() == shipped,
        "pulled bytes differ"
    );

    let by_digest = registry.reference(&format!("yungui/policies@{digest}"));
    std::fs::remove_file(&out).unwrap();
    registry.ok(&["pull", &by_digest, "-o", out.to_str().unwrap()]);
    assert!(
        std::fs::read(&out).unwrap() == shipped,
        "pulled bytes differ"
    );

    // The layout and the identity, as the registry stores them.
    let manifest: Value =
        serde_json::from_slice(&registry.manifest("yungui/policies", "v1")).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    let identity = yungui::builder::Identity::read(&shipped).unwrap().unwrap();
    assert_eq!(
        manifest["annotations"]["dev.yungui.policy-digest"],
        identity.policy_digest.as_str()
    );
    let controls = manifest["annotations"]["dev.yungui.controls"]
        .as_str()
        .unwrap();
    assert_eq!(
        controls.split(',').count(),
        identity.controls.len(),
        "{controls}"
    );

    // A tag that is not there is an error naming it, not an empty file.
    let missing = registry.reference("yungui/policies:nope");
    let out2 = registry.dir.path().join("missing.wasm");
    let failed = registry.yungui(&["pull", &missing, "-o", out2.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(4), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("not in the registry"),
        "{}",
        stderr(&failed)
    );
    assert!(!out2.exists());
}

#[test]
fn pushing_something_yungui_did_not_build_is_refused() {
    let registry = OciRegistry::start();
    let not_ours = registry.dir.path().join("config.yml");
    let out = registry.yungui(&[
        "push",
        not_ours.to_str().unwrap(),
        &registry.reference("yungui/policies:v1"),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn signed_with_the_key_verifies_as_cosign_would() {
    let registry = OciRegistry::start();
    let (key, public) = key_pair(registry.dir.path(), "signer");
    let reference = registry.reference("yungui/policies:v1");
    let digest = registry.ok(&["push", shipped_plugin(), &reference]);
    let digest = digest.trim();
    let signed = registry.ok(&["sign", &reference, "--key", &key]);
    assert!(signed.contains(digest), "{signed}");

    let verified = registry.ok(&["verify", &reference, "--key", &public]);
    assert!(verified.contains(digest), "{verified}");
    registry.ok(&[
        "verify",
        &registry.reference(&format!("yungui/policies@{digest}")),
        "--key",
        &public,
    ]);

    // The signature is cosign's: a simple-signing payload under `sha256-<hex>.sig`, whose
    // base64 annotation is an ECDSA P-256/SHA-256 DER signature `openssl` verifies.
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let manifest: Value =
        serde_json::from_slice(&registry.manifest("yungui/policies", &tag)).unwrap();
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = ureq::get(&format!(
        "http://{}/v2/yungui/policies/blobs/{}",
        registry.addr,
        layer["digest"].as_str().unwrap()
    ))
    .call()
    .unwrap()
    .body_mut()
    .read_to_vec()
    .unwrap();
    let payload_json: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload_json["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert_eq!(
        payload_json["critical"]["type"],
        "cosign container image signature"
    );
    let signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    let dir = registry.dir.path();
    std::fs::write(dir.join("payload"), &payload).unwrap();
    std::fs::write(dir.join("signature.b64"), signature).unwrap();
    let checked = Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(format!(
            "base64 -d signature.b64 > signature.der && openssl dgst -sha256 -verify {public} -signature signature.der payload"
        ))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "openssl does not verify the signature: {}",
        String::from_utf8_lossy(&checked.stderr)
    );

    // Signing again with another key keeps the first signature: both verify.
    let (key2, public2) = key_pair(dir, "second");
    registry.ok(&["sign", &reference, "--key", &key2]);
    registry.ok(&["verify", &reference, "--key", &public]);
    registry.ok(&["verify", &reference, "--key", &public2]);
}

#[test]
fn signed_with_cosigns_encrypted_key_verifies_with_its_cosign_pub() {
    let registry = OciRegistry::start();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../oci/tests/data");
    let key = data.join("policy-controller-cosign.key");
    let public = data.join("policy-controller-cosign.pub");
    let reference = registry.reference("yungui/policies:v1");
    let digest = registry.ok(&["push", shipped_plugin(), &reference]);
    let sign = |password: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_yungui"));
        command
            .args(["sign", &reference, "--plain-http", "--key"])
            .arg(&key)
            .env("DOCKER_CONFIG", registry.dir.path())
            .env("YUNGUI_CACHE_DIR", cache_dir())
            .env_remove("COSIGN_PASSWORD");
        if let Some(password) = password {
            command.env("COSIGN_PASSWORD", password);
        }
        command.output().unwrap()
    };

    let wrong = sign(Some("not-it"));
    assert_eq!(wrong.status.code(), Some(4), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("policy-controller-cosign.key")
            && stderr(&wrong).contains("password is wrong"),
        "{}",
        stderr(&wrong)
    );
    let unset = sign(None);
    assert_eq!(unset.status.code(), Some(4), "{}", stderr(&unset));
    assert!(
        stderr(&unset).contains("$COSIGN_PASSWORD"),
        "{}",
        stderr(&unset)
    );
    let out = registry.yungui(&["verify", &reference, "--key", public.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    // The key has an empty password, as `COSIGN_PASSWORD= cosign generate-key-pair` makes it.
    let signed = sign(Some(""));
    assert!(signed.status.success(), "{}", stderr(&signed));
    assert!(
        String::from_utf8_lossy(&signed.stdout).contains(digest.trim()),
        "{}",
        String::from_utf8_lossy(&signed.stdout)
    );
    registry.ok(&["verify", &reference, "--key", public.to_str().unwrap()]);
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let registry = OciRegistry::start();
    let (key, _) = key_pair(registry.dir.path(), "signer");
    let (_, other_public) = key_pair(registry.dir.path(), "other");
    let reference = registry.reference("yungui/policies:v1");
    registry.ok(&["push", shipped_plugin(), &reference]);
    registry.ok(&["sign", &reference, "--key", &key]);
    let out = registry.yungui(&["verify", &reference, "--key", &other_public]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no signature is by a trusted key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_component_without_a_signature_is_refused() {
    let registry = OciRegistry::start();
    let (_, public) = key_pair(registry.dir.path(), "signer");
    let reference = registry.reference("yungui/policies:v1");
    registry.ok(&["push", shipped_plugin(), &reference]);
    let out = registry.yungui(&["verify", &reference, "--key", &public]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no signature"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_tampered_component_pushed_over_a_signed_tag_is_refused() {
    let registry = OciRegistry::start();
    let (key, public) = key_pair(registry.dir.path(), "signer");
    let reference = registry.reference("yungui/policies:v1");
    let signed = registry.ok(&["push", shipped_plugin(), &reference]);
    let signed = signed.trim().to_owned();
    registry.ok(&["sign", &reference, "--key", &key]);

    // Someone with push rights replaces the tag's component.
    let tampered = tampered_plugin(registry.dir.path());
    let pushed = registry.ok(&["push", tampered.to_str().unwrap(), &reference]);
    let pushed = pushed.trim().to_owned();
    assert_ne!(pushed, signed);
    let out = registry.yungui(&["verify", &reference, "--key", &public]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no signature"),
        "{}",
        stderr(&out)
    );

    // ... and copies the genuine signature beside it: it is for the other digest.
    let genuine = registry.manifest(
        "yungui/policies",
        &format!("{}.sig", signed.replace(':', "-")),
    );
    registry.put_manifest(
        "yungui/policies",
        &format!("{}.sig", pushed.replace(':', "-")),
        &genuine,
    );
    let out = registry.yungui(&["verify", &reference, "--key", &public]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("is for {signed}, not {pushed}")),
        "{}",
        stderr(&out)
    );

    // The signed component, pinned by digest, still verifies.
    registry.ok(&[
        "verify",
        &registry.reference(&format!("yungui/policies@{signed}")),
        "--key",
        &public,
    ]);
}

/// `yungui serve --plugin oci://…`: a server following a tag, verifying every digest before it
/// compiles anything.
mod serve {
    use super::*;

    const REPOSITORY: &str = "yungui/policies";

    /// A registry with the shipped component signed under `v1`, and a server following the tag
    /// (polling every second) that trusts `trust` (`--verify-key PUB` or `--trust-policy FILE`).
    struct Following {
        registry: OciRegistry,
        addr: std::net::SocketAddr,
        key: String,
        signed: String,
        reference: String,
    }

    impl Following {
        fn start() -> Self {
            let registry = OciRegistry::start();
            let (key, public) = key_pair(registry.dir.path(), "signer");
            Self::start_with(registry, key, &["--verify-key".to_owned(), public])
        }

        fn start_with(registry: OciRegistry, key: String, trust: &[String]) -> Self {
            let reference = registry.reference(&format!("{REPOSITORY}:v1"));
            let signed = registry.ok(&["push", shipped_plugin(), &reference]);
            let signed = signed.trim().to_owned();
            registry.ok(&["sign", &reference, "--key", &key]);
            let docker_config = registry.dir.path().join("config.json");
            std::fs::write(&docker_config, r#"{"auths": {}}"#).unwrap();
            let plugin = format!("oci://{reference}");
            let example = example_registry_path();
            let mut words = vec![
                "--listen",
                "127.0.0.1:0",
                "--plain-http",
                "--workers",
                "1",
                "--registry",
                &example,
                "--plugin-watch-secs",
                "1",
                "--registry-plain-http",
                "--docker-config",
                docker_config.to_str().unwrap(),
                "--plugin",
                &plugin,
            ];
            words.extend(trust.iter().map(String::as_str));
            let args = serve_args(&words);
            let addr = serve_in_background(args);
            let following = Self {
                registry,
                addr,
                key,
                signed,
                reference,
            };
            following.assert_serving(&following.signed.clone(), shipped_plugin());
            following
        }

        fn readyz(&self) -> String {
            crate::serve::get(self.addr, "/readyz")
        }

        /// `/readyz` names this digest and this component as the one in force.
        fn assert_serving(&self, digest: &str, component: &str) {
            let readyz = self.readyz();
            let sha256 = yungui::builder::sha256_hex(&std::fs::read(component).unwrap());
            let mut lines = readyz.lines();
            let ready = lines.next().unwrap_or_default();
            let origin = lines.next().unwrap_or_default();
            assert!(ready.contains(&sha256), "{readyz}");
            assert!(
                origin.contains(&format!("{}@{digest}", self.registry.reference(REPOSITORY))),
                "{readyz}"
            );
        }

        /// Waits until `/readyz` says a reload was refused for `why` before compiling, then
        /// checks the signed component still serves and the refused one is nowhere in force.
        fn assert_refused(&self, refused: &str, why: &str) {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let readyz = self.readyz();
                if readyz.contains(why) {
                    assert!(readyz.contains("refused before compiling"), "{readyz}");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "not refused for `{why}`: {readyz}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            self.assert_serving(&self.signed, shipped_plugin());
            let readyz = self.readyz();
            let in_force: String = readyz.lines().take(2).collect();
            assert!(!in_force.contains(refused), "{readyz}");
            let tampered = tampered_plugin(self.registry.dir.path());
            let tampered = yungui::builder::sha256_hex(&std::fs::read(tampered).unwrap());
            assert!(!in_force.contains(&tampered), "{readyz}");
            // Decisions go on, on the signed component.
            let decision = crate::serve::get(self.addr, "/healthz");
            assert!(!decision.is_empty());
        }

        /// Waits until `digest` is the artefact in force (a refusal naming it does not count).
        fn wait_in_force(&self, digest: &str) {
            let deadline = Instant::now() + Duration::from_secs(240);
            while !self
                .readyz()
                .lines()
                .nth(1)
                .is_some_and(|origin| origin.contains(digest))
            {
                assert!(
                    Instant::now() < deadline,
                    "never swapped in: {}",
                    self.readyz()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }

        /// Pushes the tampered component (a valid one, another digest) over `v1`.
        fn push_tampered(&self) -> String {
            let tampered = tampered_plugin(self.registry.dir.path());
            let digest = self
                .registry
                .ok(&["push", tampered.to_str().unwrap(), &self.reference]);
            digest.trim().to_owned()
        }
    }

    fn sig_tag(digest: &str) -> String {
        format!("{}.sig", digest.replace(':', "-"))
    }

    #[test]
    fn an_unsigned_component_pushed_over_the_tag_is_refused_and_the_signed_one_serves() {
        let f = Following::start();
        let pushed = f.push_tampered();
        f.assert_refused(&pushed, "has no signature");
    }

    /// `--refuse-more-permissive` guards an artefact from the registry as it guards a file: a
    /// signed, verified component that allows more than the one in force is still refused.
    #[test]
    fn a_signed_but_more_permissive_component_is_refused_by_the_reload_guard() {
        let registry = OciRegistry::start();
        let (key, public) = key_pair(registry.dir.path(), "signer");
        let f = Following::start_with(
            registry,
            key,
            &[
                "--verify-key".to_owned(),
                public,
                "--refuse-more-permissive".to_owned(),
            ],
        );
        let weaker = f.registry.dir.path().join("weaker.wasm");
        std::fs::write(
            &weaker,
            crate::analyze_plugin::built_with(crate::analyze_plugin::HOST_ACCESS_WEAKER),
        )
        .unwrap();
        let pushed = f
            .registry
            .ok(&["push", weaker.to_str().unwrap(), &f.reference]);
        f.registry.ok(&["sign", &f.reference, "--key", &f.key]);
        let deadline = Instant::now() + Duration::from_secs(240);
        let readyz = loop {
            let readyz = f.readyz();
            if readyz.contains("more permissive") {
                break readyz;
            }
            assert!(Instant::now() < deadline, "never refused: {readyz}");
            std::thread::sleep(Duration::from_millis(500));
        };
        assert!(readyz.contains("\"host_access\":true"), "{readyz}");
        f.assert_serving(&f.signed, shipped_plugin());
        let in_force: String = f.readyz().lines().take(2).collect();
        assert!(!in_force.contains(pushed.trim()), "{readyz}");
    }

    #[test]
    fn a_stripped_signature_is_refused() {
        let f = Following::start();
        // Signed under another tag first, so that the followed tag never names a digest with a
        // valid signature (the server would rightly take it).
        let tampered = tampered_plugin(f.registry.dir.path());
        let v2 = f.registry.reference(&format!("{REPOSITORY}:v2"));
        let pushed = f.registry.ok(&["push", tampered.to_str().unwrap(), &v2]);
        let pushed = pushed.trim().to_owned();
        f.registry.ok(&["sign", &v2, "--key", &f.key]);
        // The signature manifest is overwritten with its payload but no signature.
        let mut manifest: Value =
            serde_json::from_slice(&f.registry.manifest(REPOSITORY, &sig_tag(&pushed))).unwrap();
        manifest["layers"][0]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        f.registry.put_manifest(
            REPOSITORY,
            &sig_tag(&pushed),
            &serde_json::to_vec(&manifest).unwrap(),
        );
        assert_eq!(f.push_tampered(), pushed);
        f.assert_refused(
            &pushed,
            "has no `dev.cosignproject.cosign/signature` annotation",
        );
    }

    #[test]
    fn a_signature_by_an_untrusted_key_is_refused() {
        let f = Following::start();
        let (other, _) = key_pair(f.registry.dir.path(), "other");
        let pushed = f.push_tampered();
        f.registry.ok(&["sign", &f.reference, "--key", &other]);
        f.assert_refused(&pushed, "no signature is by a trusted key");
    }

    #[test]
    fn a_tampered_component_with_the_signature_copied_is_refused() {
        let f = Following::start();
        let pushed = f.push_tampered();
        let genuine = f.registry.manifest(REPOSITORY, &sig_tag(&f.signed));
        f.registry
            .put_manifest(REPOSITORY, &sig_tag(&pushed), &genuine);
        f.assert_refused(&pushed, &format!("is for {}, not {pushed}", f.signed));
    }

    #[test]
    fn a_new_signed_component_on_the_tag_is_swapped_in() {
        let f = Following::start();
        let pushed = f.push_tampered();
        f.registry.ok(&["sign", &f.reference, "--key", &f.key]);
        let tampered = tampered_plugin(f.registry.dir.path());
        f.wait_in_force(&pushed);
        f.assert_serving(&pushed, tampered.to_str().unwrap());
        assert!(!f.readyz().contains("refused"), "{}", f.readyz());
    }

    #[test]
    fn the_trust_policy_names_the_keys_of_each_repository() {
        let registry = OciRegistry::start();
        let dir = registry.dir.path().to_owned();
        let (old, old_public) = key_pair(&dir, "old");
        let (new, new_public) = key_pair(&dir, "new");
        let (team, team_public) = key_pair(&dir, "team");
        // Rotation: the old and the new key both trusted for the organisation; the team's own
        // key only below it (the longest prefix decides, so the organisation's keys do not
        // sign the team's repository).
        let policy = dir.join("trust.yaml");
        std::fs::write(
            &policy,
            format!(
                "repositories:\n  - prefix: {}\n    keys: [{old_public}, {new_public}]\n  - prefix: {}\n    keys: [{team_public}]\n",
                registry.reference("yungui"),
                registry.reference("yungui/team"),
            ),
        )
        .unwrap();
        let f = Following::start_with(
            registry,
            old,
            &["--trust-policy".to_owned(), policy.display().to_string()],
        );
        // The new key signs the next one: trusted.
        let pushed = f.push_tampered();
        f.registry.ok(&["sign", &f.reference, "--key", &new]);
        f.wait_in_force(&pushed);
        // The team's key is not trusted for the organisation's repository.
        let wasm = f.registry.dir.path().join("third.wasm");
        let mut bytes = std::fs::read(tampered_plugin(f.registry.dir.path())).unwrap();
        bytes.extend_from_slice(&[0, 4, 1, b'x', b'y', b'z']);
        std::fs::write(&wasm, bytes).unwrap();
        let third = f
            .registry
            .ok(&["push", wasm.to_str().unwrap(), &f.reference]);
        f.registry.ok(&["sign", &f.reference, "--key", &team]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !f.readyz().contains("no signature is by a trusted key") {
            assert!(Instant::now() < deadline, "not refused: {}", f.readyz());
            std::thread::sleep(Duration::from_millis(200));
        }
        let readyz = f.readyz();
        let in_force: String = readyz.lines().take(2).collect();
        assert!(in_force.contains(&pushed), "{readyz}");
        assert!(!in_force.contains(third.trim()), "{readyz}");
    }
}

/// Air-gapped: `yungui save` writes a verified artefact and its signature as an OCI image layout;
/// a server reads it with the registry gone, verifying the saved signature offline.
mod air_gapped {
    use super::*;

    /// Starts a server on `words` without waiting for its component; returns its address.
    fn start_unready(words: &[&str]) -> std::net::SocketAddr {
        let config = serve_args(words).config().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let running = yungui_server::start(&config).await.unwrap();
                tx.send(running.addr).unwrap();
                let _ = running.wait().await;
            });
        });
        rx.recv_timeout(Duration::from_secs(60)).unwrap()
    }

    fn wait_for(addr: std::net::SocketAddr, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let readyz = crate::serve::get(addr, "/readyz");
            if readyz.contains(what) {
                return readyz;
            }
            assert!(Instant::now() < deadline, "no `{what}`: {readyz}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    #[test]
    fn a_saved_layout_serves_offline_and_a_tampered_one_is_refused() {
        let registry = OciRegistry::start();
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = key_pair(dir.path(), "signer");
        let (_, other) = key_pair(dir.path(), "other");
        let reference = registry.reference("yungui/policies:v1");
        let digest = registry.ok(&["push", shipped_plugin(), &reference]);
        let digest = digest.trim().to_owned();
        let layout = dir.path().join("layout");
        let layout_str = layout.to_str().unwrap();

        // Unsigned: nothing saved.
        let out = registry.yungui(&["save", &reference, "-o", layout_str, "--key", &public]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(!layout.join("index.json").exists());

        registry.ok(&["sign", &reference, "--key", &key]);
        let saved = registry.ok(&["save", &reference, "-o", layout_str, "--key", &public]);
        assert!(saved.contains(&digest), "{saved}");
        drop(registry); // the registry is gone: everything below is offline

        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], digest.as_str());
        assert!(layout.join("oci-layout").is_file());

        let example = example_registry_path();
        let plugin = format!("oci-layout://{layout_str}:v1");
        let serve = |key: &str| {
            start_unready(&[
                "--listen",
                "127.0.0.1:0",
                "--plain-http",
                "--workers",
                "1",
                "--registry",
                &example,
                "--plugin-watch-secs",
                "1",
                "--plugin",
                &plugin,
                "--verify-key",
                key,
            ])
        };
        let good = serve(&public);
        let readyz = wait_for(good, "component from oci-layout://");
        assert!(readyz.contains(&digest), "{readyz}");

        // Another key: refused before compiling, never ready.
        let wrong = serve(&other);
        let readyz = wait_for(wrong, "refused before compiling");
        assert!(readyz.starts_with("not ready"), "{readyz}");
        assert!(
            readyz.contains("no signature is by a trusted key"),
            "{readyz}"
        );

        // A blob changed in the layout: refused, and the server serving it keeps the good one.
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(
                layout
                    .join("blobs/sha256")
                    .join(digest.trim_start_matches("sha256:")),
            )
            .unwrap(),
        )
        .unwrap();
        let wasm_blob = layout.join("blobs/sha256").join(
            manifest["layers"][0]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        );
        std::fs::copy(tampered_plugin(dir.path()), &wasm_blob).unwrap();
        let readyz = wait_for(good, "does not hash to its name");
        assert!(readyz.contains("refused before compiling"), "{readyz}");
        assert!(
            readyz.lines().nth(1).unwrap_or_default().contains(&digest),
            "{readyz}"
        );
    }
}
