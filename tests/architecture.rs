//! The dependency rules of docs/architecture.md, checked on the source: a
//! row for every top-level module of `src/`, a module may name only the
//! modules its row allows, no two modules import each other in a circle,
//! docs/architecture.md's table says the same, and no function outside
//! tests is longer than 150 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module and the modules it may use. `EVERY` lets a module
/// use all others (the command layer, which only wires them together).
const RULES: &[(&str, &[&str])] = &[
    ("exit", &[]),
    ("s3", &[]),
    ("units", &[]),
    ("synthetic", &[]),
    ("stats", &[]),
    ("check", &["s3"]),
    ("oplog", &[]),
    ("scenario", &["check", "s3", "units"]),
    ("server", &["s3", "synthetic"]),
    ("client", &["s3", "scenario", "stats", "synthetic", "oplog"]),
    ("engine", &["s3", "scenario", "stats", "client", "oplog"]),
    ("import", &["scenario", "oplog", "s3", "stats", "units"]),
    ("report", &["check", "s3", "stats", "units"]),
    ("metrics", &["s3", "stats"]),
    ("estimate", &["report", "scenario", "units"]),
    ("plan", &["check", "s3", "scenario"]),
    ("targets", &["client", "s3", "scenario", "server"]),
    (
        "doctor",
        &["client", "exit", "plan", "s3", "scenario", "targets"],
    ),
    ("cluster", &["exit", "plan", "report", "s3", "scenario"]),
    (
        "run",
        &[
            "client", "cluster", "doctor", "engine", "estimate", "exit", "metrics", "oplog",
            "plan", "report", "s3", "scenario", "stats", "targets", "units",
        ],
    ),
    (
        "whatif",
        &[
            "client", "engine", "report", "s3", "scenario", "stats", "units",
        ],
    ),
    ("cli", EVERY),
];

const EVERY: &[&str] = &["*"];

/// The longest function allowed outside tests, in lines (signature to
/// closing brace).
const MAX_FUNCTION_LINES: usize = 150;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules of `src/`: its directories and `.rs` files, but
/// the crate roots.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            if p.is_dir() {
                Some(name)
            } else {
                let stem = name.strip_suffix(".rs")?;
                (stem != "lib" && stem != "main").then(|| stem.to_string())
            }
        })
        .collect()
}

/// Every `.rs` file under `dir`, sorted.
fn rs_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
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
    files.sort();
    files
}

/// Every `.rs` file of a top-level module.
fn files_of(src: &Path, module: &str) -> Vec<PathBuf> {
    let dir = src.join(module);
    if dir.is_dir() {
        rs_files(&dir)
    } else {
        vec![src.join(format!("{module}.rs"))]
    }
}

/// The top-level modules a piece of source names through `crate::`:
/// `crate::run::x`, and each name of `crate::{run, plan::RunPlan}`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at the group's top level, before any `::` or `{`.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && !c.is_whitespace() => {
                        start = false;
                        let name = ident(&group[j..]);
                        if !name.is_empty() {
                            out.insert(name);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Every top-level module a module's files name (comments and strings
/// aside), itself left out.
fn uses(src: &Path, module: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in files_of(src, module) {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        out.extend(crate_paths(&code));
    }
    out.remove(module);
    out
}

/// The graph of which top-level module uses which.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    top_level_modules(src)
        .into_iter()
        .map(|m| {
            let u = uses(src, &m);
            (m, u)
        })
        .collect()
}

/// A circle of imports, if the graph has one (depth-first search).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut c = path[i..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

fn rules() -> BTreeMap<&'static str, &'static [&'static str]> {
    RULES.iter().copied().collect()
}

#[test]
fn every_module_has_a_row() {
    let modules = top_level_modules(&src());
    let rows: BTreeSet<String> = rules().keys().map(|k| k.to_string()).collect();
    let missing: Vec<&String> = modules.difference(&rows).collect();
    let stale: Vec<&String> = rows.difference(&modules).collect();
    assert!(
        missing.is_empty(),
        "modules without a row in tests/architecture.rs (and docs/architecture.md): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for modules that do not exist: {stale:?}"
    );
}

#[test]
fn modules_depend_only_as_documented() {
    let src = src();
    for (module, allowed) in rules() {
        if allowed == EVERY {
            continue;
        }
        let bad: Vec<String> = uses(&src, module)
            .into_iter()
            .filter(|m| !allowed.contains(&m.as_str()))
            .collect();
        assert!(
            bad.is_empty(),
            "src/{module} uses {bad:?}, which docs/architecture.md does not allow (allowed: {allowed:?})"
        );
    }
}

#[test]
fn no_module_imports_another_in_a_circle() {
    let g = graph(&src());
    assert_eq!(cycle(&g), None, "an import cycle between top-level modules");
    // The rules themselves allow no circle either.
    let allowed: BTreeMap<String, BTreeSet<String>> = rules()
        .into_iter()
        .filter(|(_, a)| *a != EVERY)
        .map(|(m, a)| (m.to_string(), a.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(cycle(&allowed), None, "the rules allow a cycle");
}

/// docs/architecture.md's table has the same rows and the same allowed
/// modules as [`RULES`], so the document stays true.
#[test]
fn the_documented_table_is_these_rules() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let section = doc
        .split("## Dependency rules")
        .nth(1)
        .expect("docs/architecture.md has a Dependency rules section");
    let mut documented = BTreeMap::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, module, may_use, ..] = cells.as_slice() else {
            continue;
        };
        let Some(module) = module.strip_prefix('`').and_then(|m| m.strip_suffix('`')) else {
            continue;
        };
        let allowed: BTreeSet<String> = if may_use.starts_with("every module") {
            BTreeSet::from(["*".to_string()])
        } else {
            may_use
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        documented.insert(module.to_string(), allowed);
    }
    let rules: BTreeMap<String, BTreeSet<String>> = rules()
        .into_iter()
        .map(|(m, a)| (m.to_string(), a.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(
        documented, rules,
        "docs/architecture.md's table differs from RULES"
    );
}

#[test]
fn the_checkers_can_fail() {
    // A rule that forbids what engine does use must fail, so the checks
    // above cannot pass by reading nothing.
    let src = src();
    assert!(uses(&src, "engine").contains("client"));
    assert!(uses(&src, "run").contains("report"));
    assert!(uses(&src, "cli").contains("run"));
    // Grouped paths count, comments and strings do not.
    let names = crate_paths(&code_only(
        "use crate::{a::X, b, c::{d, e}};\n// crate::f\nlet s = \"crate::g\";\nuse crate::h;",
    ));
    assert_eq!(
        names,
        BTreeSet::from(["a", "b", "c", "h"].map(String::from))
    );
    // A cycle is found, a chain is not.
    let g = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")])),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
    assert_eq!(cycle(&g(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    // A module without a row is one the modules list shows.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("newstage")).unwrap();
    std::fs::write(dir.path().join("extra.rs"), "").unwrap();
    std::fs::write(dir.path().join("lib.rs"), "").unwrap();
    assert_eq!(
        top_level_modules(dir.path()),
        BTreeSet::from(["extra".to_string(), "newstage".to_string()])
    );
}

// ---- Function length -------------------------------------------------

/// Source with comments, string and character literals blanked (newlines
/// kept, so line numbers hold), so braces can be counted.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, s: &str| {
        out.extend(s.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        let prev_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let end = if rest.starts_with("//") {
            rest.find('\n').map_or(b.len(), |n| i + n)
        } else if rest.starts_with("/*") {
            // Block comments nest.
            let mut depth = 0;
            let mut j = i;
            loop {
                if src[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if src[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break j;
                    }
                } else if j >= b.len() {
                    break b.len();
                } else {
                    j += 1;
                }
            }
        } else if !prev_ident && let Some(n) = raw_string_len(rest) {
            i + n
        } else if b[i] == b'"' || (!prev_ident && rest.starts_with("b\"")) {
            let mut j = i + if b[i] == b'b' { 2 } else { 1 };
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        } else if b[i] == b'\'' {
            // A character literal ('{', '\'', '\u{7b}'), or a lifetime.
            let mut chars = rest[1..].char_indices();
            match chars.next() {
                Some((_, '\\')) => {
                    // The escaped character, then the closing quote.
                    let close = rest
                        .get(3..)
                        .and_then(|r| r.find('\''))
                        .map_or(1, |n| n + 4);
                    i + close
                }
                Some((_, c)) if rest[1 + c.len_utf8()..].starts_with('\'') => i + 2 + c.len_utf8(),
                _ => i + 1,
            }
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        let end = end.min(b.len());
        if b[i] == b'\'' && end == i + 1 {
            out.push('\'');
        } else {
            blank(&mut out, &src[i..end]);
        }
        i = end;
    }
    out
}

/// The length of a raw string literal (`r"..."`, `r#"..."#`, `br"..."`)
/// at the start of `s`.
fn raw_string_len(s: &str) -> Option<usize> {
    let after_b = s.strip_prefix('b').unwrap_or(s);
    let body = after_b.strip_prefix('r')?;
    let hashes = body.len() - body.trim_start_matches('#').len();
    let body = &body[hashes..];
    body.strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body[1..].find(&close)? + 1 + close.len();
    Some(s.len() - body.len() + end)
}

/// The matching closing brace of the `{` at `open`.
fn close_of(code: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, &c) in code.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// The body of the item after `at` (an attribute's end): from its `{` to
/// the matching `}`, or None for an item without one (`mod x;`).
fn item_body(code: &str, at: usize) -> Option<(usize, usize)> {
    let b = code.as_bytes();
    let mut j = at;
    while j < b.len() && b[j] != b'{' && b[j] != b';' {
        j += 1;
    }
    (j < b.len() && b[j] == b'{').then(|| (j, close_of(b, j)))
}

/// `code` with every `#[cfg(test)]` item's body blanked, and the names of
/// `#[cfg(test)] mod name;` declarations (files that are tests).
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut code = code.to_string();
    let mut test_files = Vec::new();
    let mut from = 0;
    while let Some(k) = code[from..].find("#[cfg(test)]") {
        let at = from + k + "#[cfg(test)]".len();
        from = at;
        let item = code[at..].trim_start();
        let decl: String = item
            .chars()
            .take_while(|c| *c != ';' && *c != '{')
            .collect();
        let words: Vec<&str> = decl.split_whitespace().collect();
        if let Some(p) = words.iter().position(|w| *w == "mod")
            && item[decl.len()..].starts_with(';')
            && let Some(name) = words.get(p + 1)
        {
            test_files.push(name.to_string());
            continue;
        }
        if let Some((open, close)) = item_body(&code, at) {
            let blanked: String = code[open..=close.min(code.len() - 1)]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            code.replace_range(open..=close.min(code.len() - 1), &blanked);
        }
    }
    (code, test_files)
}

/// Every function of `code` longer than `max` lines: (name, first line,
/// lines).
fn long_functions(code: &str, max: usize) -> Vec<(String, usize, usize)> {
    let b = code.as_bytes();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    for (k, _) in code.match_indices("fn ") {
        let word_start = k == 0 || !(b[k - 1].is_ascii_alphanumeric() || b[k - 1] == b'_');
        if !word_start {
            continue;
        }
        let name: String = code[k + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        let Some((_, close)) = item_body(code, k) else {
            continue;
        };
        let lines = line_of(close) - line_of(k) + 1;
        if lines > max {
            out.push((name, line_of(k), lines));
        }
    }
    out
}

/// Every `.rs` file of `src/` that is not a test: files declared
/// `#[cfg(test)] mod x;` are left out.
fn non_test_sources(src: &Path) -> Vec<(PathBuf, String)> {
    let files = rs_files(src);
    let mut skip = BTreeSet::new();
    let mut out = Vec::new();
    for f in &files {
        let (code, tests) = without_tests(&code_only(&std::fs::read_to_string(f).unwrap()));
        // A child module of `a/mod.rs`, `lib.rs` or `main.rs` lives in
        // `a/`; of `a/b.rs`, in `a/b/`.
        let stem = f.file_stem().unwrap().to_str().unwrap();
        let dir = f.parent().unwrap();
        let children = if matches!(stem, "mod" | "lib" | "main") {
            dir.to_path_buf()
        } else {
            dir.join(stem)
        };
        for t in tests {
            skip.insert(children.join(format!("{t}.rs")));
            skip.insert(children.join(&t).join("mod.rs"));
        }
        out.push((f.clone(), code));
    }
    out.retain(|(f, _)| !skip.contains(f));
    out
}

#[test]
fn no_function_outside_tests_is_longer_than_150_lines() {
    let src = src();
    let mut long = Vec::new();
    for (f, code) in non_test_sources(&src) {
        for (name, line, lines) in long_functions(&code, MAX_FUNCTION_LINES) {
            long.push(format!(
                "{}:{line} fn {name}: {lines} lines",
                f.strip_prefix(&src).unwrap().display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "split by stage, not arbitrarily (at most {MAX_FUNCTION_LINES} lines): {long:#?}"
    );
}

#[test]
fn the_length_check_can_fail() {
    let body = |n: usize| "    let x = 1;\n".repeat(n);
    // 151 lines: too long; its braces in strings, chars and comments
    // (and a lifetime) do not end it early.
    let long = format!(
        "fn long<'a>(s: &'a str) -> usize {{\n    let _ = \"}}\"; let _ = '}}'; // }}\n    let _ = r#\"}}\"#; /* }} */\n{}}}\n",
        body(147)
    );
    let found = long_functions(&without_tests(&code_only(&long)).0, 150);
    assert_eq!(found, [("long".to_string(), 1, 151)]);
    let ok = format!("fn fine() {{\n{}}}\n", body(148));
    assert!(long_functions(&code_only(&ok), 150).is_empty());
    // Inside a #[cfg(test)] module or function, it is not counted.
    let in_tests = format!("#[cfg(test)]\nmod tests {{\n{long}}}\n#[cfg(test)]\n{long}");
    let (code, files) = without_tests(&code_only(&in_tests));
    assert!(long_functions(&code, 150).is_empty());
    assert!(files.is_empty());
    let (_, files) = without_tests(&code_only("#[cfg(test)]\nmod loader_tests;\n"));
    assert_eq!(files, ["loader_tests"]);
    // The test files of src/ are found and left out.
    let sources = non_test_sources(&src());
    assert!(sources.iter().any(|(f, _)| f.ends_with("engine/mod.rs")));
    assert!(!sources.iter().any(|(f, _)| f.ends_with("engine/tests.rs")));
}
