//! The broker's modules import each other without a cycle: the server sits
//! on the handlers, the handlers on the service, the service on the parts
//! below it, and nothing lower reaches back up.
//!
//! A top-level module is a file directly in `src/` or a folder of `src/`
//! (everything in the folder is one module); `lib.rs` and `bin/` are left
//! out. A module depends on another when one of its files names it through
//! `crate::` or through `super::` paths that climb to the crate root. Test
//! modules (`#[cfg(test)] mod … { … }`), comments and literals are ignored.
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module → (module it names → a file that names it).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn broker_modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    // The scanner sees the layers at all (a scanner that finds nothing
    // would pass below).
    for (from, to) in [
        ("server", "handlers"),
        ("handlers", "service"),
        ("service", "topics"),
    ] {
        assert!(
            graph.get(from).is_some_and(|t| t.contains_key(to)),
            "expected {from} to import {to}; graph: {graph:#?}"
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("  {} -> {}   ({})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!(
            "the broker's modules import each other in a cycle: {}\n{}",
            cycle.join(" -> "),
            steps.join("\n")
        );
    }
}

#[test]
fn a_cycle_is_found_and_named() {
    let g = |edges: &[(&str, &str)]| -> Graph {
        let mut g = Graph::new();
        for (a, b) in edges {
            g.entry(a.to_string())
                .or_default()
                .insert(b.to_string(), "f.rs".into());
        }
        g
    };
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        find_cycle(&g(&[("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")])),
        Some(vec!["b".into(), "c".into(), "d".into(), "b".into()])
    );
}

#[test]
fn references_are_read_from_paths_not_comments_or_tests() {
    let code = r#"
        use crate::{service::{Broker, X}, error::E};
        use super::super::topics::TopicManager;
        // use crate::commented;
        /* crate::blocked */
        const S: &str = "crate::quoted";
        fn f() { crate::state::load(); $crate::macro_path(); }
        #[cfg(test)]
        mod tests {
            use crate::only_in_tests;
            fn g() { let _ = '{'; }
        }
        fn h() -> u8 { crate::stats::x() }
    "#;
    let got = references(code, &["groups".into(), "locks".into()]);
    let want: BTreeSet<String> = ["service", "error", "topics", "state", "stats"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(got, want);
}

/// Every top-level module's imports of other top-level modules.
fn module_graph(src: &Path) -> Graph {
    let mut modules = BTreeSet::new();
    for entry in fs::read_dir(src).expect("read src") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_string();
        if name == "lib" || name == "bin" {
            continue;
        }
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            modules.insert(name);
        }
    }
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).expect("under src");
        let mut path: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        let Some(top) = path.first().cloned() else {
            continue;
        };
        if !modules.contains(&top) {
            continue; // lib.rs, bin/
        }
        let code = fs::read_to_string(&file).expect("read source");
        let edges = graph.entry(top.clone()).or_default();
        for target in references(&code, &path) {
            if target != top && modules.contains(&target) {
                edges
                    .entry(target)
                    .or_insert_with(|| rel.display().to_string());
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The first path segments named from the crate root in `code`, a file of
/// module `path` (`["groups", "locks"]` for `src/groups/locks.rs`).
fn references(code: &str, path: &[String]) -> BTreeSet<String> {
    let code = without_tests(&blank_comments_and_literals(code));
    let b = code.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        let boundary =
            i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'$');
        if !boundary {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        if let Some(after) = rest.strip_prefix("crate::") {
            out.extend(first_segments(after));
            i += "crate::".len();
        } else if rest.starts_with("super::") {
            let mut n = 0;
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                n += 1;
                tail = t;
            }
            // `super` climbs from the file's module; reaching the root
            // makes the next segment a top-level module.
            if n >= path.len() {
                out.extend(first_segments(tail));
            }
            i += rest.len() - tail.len();
        } else {
            i += 1;
        }
    }
    out
}

/// The first segment of a path (`topics::X` → `topics`), or of each path
/// in a group (`{a::X, b}` → `a`, `b`).
fn first_segments(s: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = s.strip_prefix('{') else {
        return vec![ident(s)];
    };
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(ident(&group[start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(ident(&group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.retain(|s| !s.is_empty() && s != "self");
    out
}

/// `code` with comments removed and the insides of string and char
/// literals blanked, so neither can name a module or hold a brace.
fn blank_comments_and_literals(code: &str) -> String {
    let c: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < c.len() && !(c[i] == '*' && c.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            'r' if matches!(c.get(i + 1), Some('"') | Some('#'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                while j < c.len() {
                    if c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A char literal ('x', '\n'); a lifetime ('a) is left alone.
            '\'' if c.get(i + 1) == Some(&'\\') => {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            }
            '\'' if c.get(i + 2) == Some(&'\'') => {
                i += 3;
                out.push_str("' '");
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// `code` without its `#[cfg(test)] mod name { … }` blocks.
fn without_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_mod = trimmed.starts_with("mod ") || trimmed.starts_with("pub(crate) mod ");
        let open = trimmed.find('{');
        let semi = trimmed.find(';');
        match (is_mod, open) {
            (true, Some(open)) if semi.is_none_or(|s| s > open) => {
                out.push_str(&rest[..at]);
                let body = &trimmed[open..];
                let mut depth = 0;
                let mut end = body.len();
                for (i, ch) in body.char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &body[end..];
            }
            _ => {
                out.push_str(&rest[..at + "#[cfg(test)]".len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A cycle as the modules along it, first repeated at the end.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|t| t.keys()) {
            if let Some(c) = visit(next, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}
