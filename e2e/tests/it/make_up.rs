//! `make up`'s own helpers, run for real and offline (no cluster): what decides whether a
//! warm `make up` rebuilds the web bundles (images/web-stamp).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(dir: &Path, cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The hash changes with every input of `npm run build` (a source, the lockfile, a new
/// file, a deleted one) and with nothing else (the browser tests, node_modules, dist/), so
/// an untouched web/ is not rebuilt and a touched one always is.
#[test]
fn the_web_stamp_changes_with_the_bundles_inputs_only() {
    let dir = Tmp(std::env::temp_dir().join(format!("ovu-web-stamp-{}", std::process::id())));
    let d = dir.0.as_path();
    let _ = std::fs::remove_dir_all(d);
    std::fs::create_dir_all(d).unwrap();
    run(d, "git", &["init", "-q"]);
    write(d, ".gitignore", "/web/**/node_modules/\n/web/**/dist/\n");
    write(d, "web/package-lock.json", "{\"lockfileVersion\": 3}\n");
    write(d, "web/ulm/src/main.tsx", "export const a = 1;\n");
    write(d, "web/e2e/flows.test.mjs", "// browser test\n");
    write(d, "README.md", "outside web/\n");
    run(d, "git", &["add", "-A"]);
    let stamp = repo().join("images/web-stamp");
    let stamp = stamp.to_str().unwrap();
    let hash = || {
        run(d, stamp, &["hash", d.to_str().unwrap()])
            .trim()
            .to_string()
    };

    let h0 = hash();
    assert_eq!(h0.len(), 32, "{h0}");
    assert_eq!(hash(), h0, "the same tree, the same hash");

    // Not inputs: browser tests, build output, dependencies, files outside web/.
    write(d, "web/e2e/flows.test.mjs", "// another browser test\n");
    write(d, "web/ulm/dist/index.html", "<!doctype html>\n");
    write(d, "web/node_modules/x/index.js", "1\n");
    write(d, "README.md", "changed\n");
    assert_eq!(
        hash(),
        h0,
        "a change outside the bundles' inputs rebuilt them"
    );

    // Inputs, committed or not.
    let mut seen = vec![h0.clone()];
    let mut changed = |what: &str, h: String| {
        assert!(!seen.contains(&h), "{what} did not change the hash");
        seen.push(h);
    };
    write(d, "web/ulm/src/main.tsx", "export const a = 2;\n");
    changed("an edited source", hash());
    write(
        d,
        "web/package-lock.json",
        "{\"lockfileVersion\": 3, \"x\": 1}\n",
    );
    changed("an edited lockfile", hash());
    write(d, "web/shared/src/new.ts", "export {};\n");
    changed("a new untracked source", hash());
    std::fs::remove_file(d.join("web/ulm/src/main.tsx")).unwrap();
    changed("a deleted tracked source", hash());
}
