//! The binary's offline subcommands.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ovu-operator");

#[test]
fn crd_subcommand_prints_the_committed_crd() {
    let out = Command::new(BIN).arg("crd").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/ovusystem.yaml"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

#[test]
fn render_nginx_subcommand_renders_local_config() {
    let out = Command::new(BIN)
        .args([
            "render-nginx",
            "--domain",
            "ovu.localhost",
            "--html-root",
            "/srv/web",
            "--temp-dir",
            "/tmp/ovu-nginx",
            "--pid-file",
            "/tmp/ovu-nginx.pid",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let conf = String::from_utf8(out.stdout).unwrap();
    assert!(conf.contains("server 127.0.0.1:8001;"));
    assert!(conf.contains("server_name ulm.ovu.localhost;"));
    assert!(!conf.contains("ssl_certificate"));
    // Without TLS browsers reach this nginx on its HTTP port: the default origins say so.
    assert!(
        conf.contains("\"http://aam.ovu.localhost:8080\" $http_origin;"),
        "{conf}"
    );
}

#[test]
fn render_nginx_rejects_an_unsafe_domain() {
    let out = Command::new(BIN)
        .args([
            "render-nginx",
            "--domain",
            "x;y",
            "--html-root",
            "/srv",
            "--temp-dir",
            "/tmp",
            "--pid-file",
            "/tmp/p",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("domain contains characters"));
}

#[test]
fn render_subcommand_rejects_an_invalid_spec_with_the_field_named() {
    let dir = std::env::temp_dir().join(format!("ovu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.yaml");
    std::fs::write(
        &f,
        "apiVersion: ovu.co.il/v1alpha1\nkind: OvuSystem\nmetadata: {name: ovu}\nspec: {domain: ovu.co.il, database: {backup: {retain: 0}}}\n",
    )
    .unwrap();
    let out = Command::new(BIN).arg("render").arg(&f).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.database.backup.retain"));
}

/// The images a manifest leaves out come from `OVU_DEFAULT_IMAGE_*`, as `run` reads them; a
/// bad value stops the binary with the variable named, before anything is rendered.
#[test]
fn render_subcommand_takes_default_images_from_the_environment() {
    let dir = std::env::temp_dir().join(format!("ovu-cli-images-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("sys.yaml");
    std::fs::write(
        &f,
        "apiVersion: ovu.co.il/v1alpha1\nkind: OvuSystem\nmetadata: {name: ovu}\nspec: {domain: ovu.co.il, backend: {aam: {image: ovu/aam:pinned}}}\n",
    )
    .unwrap();
    let render = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.arg("render").arg(&f);
        for (var, _) in ovu_operator::images::FALLBACKS {
            cmd.env_remove(var);
        }
        cmd.envs(vars.iter().copied());
        cmd.output().unwrap()
    };
    let plain = render(&[]);
    let ulm = "registry.example.com/ovu/ulm:2.0.0@sha256:".to_string() + &"b".repeat(64);
    let configured = render(&[
        ("OVU_DEFAULT_IMAGE_ULM", &ulm),
        (
            "OVU_DEFAULT_IMAGE_AAM",
            "registry.example.com/ovu/aam:2.0.0",
        ),
    ]);
    let bad = render(&[("OVU_DEFAULT_IMAGE_REDIS", "redis:7 --evil")]);
    let _ = std::fs::remove_dir_all(&dir);

    assert!(plain.status.success());
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(
        plain.contains("image: ovu/ulm:0.1.0"),
        "the compiled fallback"
    );
    assert!(plain.contains("image: ovu/aam:pinned"));

    assert!(configured.status.success());
    let configured = String::from_utf8(configured.stdout).unwrap();
    assert!(
        configured.contains(&format!("image: \"{ulm}\""))
            || configured.contains(&format!("image: {ulm}")),
        "{configured}"
    );
    assert!(!configured.contains("ovu/ulm:0.1.0"));
    // Named in the spec: the spec wins over the configured default.
    assert!(configured.contains("image: ovu/aam:pinned"));
    assert!(!configured.contains("registry.example.com/ovu/aam"));

    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("OVU_DEFAULT_IMAGE_REDIS=\"redis:7 --evil\" is not an image reference"),
        "{err}"
    );
    assert!(bad.stdout.is_empty());
}

/// The release pins exactly the variables the operator reads (scripts/release-refs.py lists
/// them for scripts/release.sh and scripts/verify-release.sh): one the release missed would
/// leave its component on an unpinned fallback.
#[test]
fn the_release_scripts_pin_every_default_image_variable() {
    let out = Command::new("python3")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/release-refs.py"))
        .arg("default-vars")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let read: Vec<String> = ovu_operator::images::FALLBACKS
        .iter()
        .map(|(var, _)| var.to_string())
        .collect();
    assert_eq!(listed, read);
}

/// `run --help` names each default-image variable with the fallback the binary really uses.
#[test]
fn help_names_every_default_image_variable_and_its_fallback() {
    let out = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (var, fallback) in ovu_operator::images::FALLBACKS {
        assert!(
            help.lines()
                .any(|l| l.contains(var) && l.contains(&format!("(unset: {fallback})"))),
            "{var} (unset: {fallback}) not in:\n{help}"
        );
    }
}
