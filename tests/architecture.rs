//! The dependency rules of docs/architecture.md, checked on the source: a
//! module may name only the modules its row allows.

use std::path::Path;

/// Every `crate::<module>` a module's files name.
fn uses(module: &str) -> std::collections::BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let dir = root.join(module);
    if dir.is_dir() {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
    } else {
        files.push(root.join(format!("{module}.rs")));
    }
    let mut out = std::collections::BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                out.insert(name);
            }
        }
    }
    out
}

fn check(module: &str, allowed: &[&str]) {
    let bad: Vec<String> = uses(module)
        .into_iter()
        .filter(|m| !allowed.contains(&m.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "src/{module} uses {bad:?}, which docs/architecture.md does not allow (allowed: {allowed:?})"
    );
}

#[test]
fn modules_depend_only_as_documented() {
    check("s3", &[]);
    check("stats", &[]);
    check("scenario", &["s3", "units"]);
    check("server", &["s3", "synthetic"]);
    check("client", &["s3", "scenario", "stats", "synthetic"]);
    check("engine", &["s3", "scenario", "stats", "client"]);
    check("report", &["s3", "stats", "units"]);
    check(
        "whatif",
        &[
            "engine", "scenario", "stats", "report", "client", "s3", "units",
        ],
    );
}

#[test]
fn the_checker_sees_uses() {
    // A rule that forbids what engine does use must fail, so the check above
    // cannot pass by reading nothing.
    assert!(uses("engine").contains("client"));
    assert!(uses("run").contains("report"));
}
