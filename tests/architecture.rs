//! The module graph of docs/architecture.md holds: every top-level module of
//! `src/` uses only modules of its own layer or earlier ones, there is no
//! import cycle between top-level modules, and only the command layer (and
//! the binary) knows clap.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, in order (docs/architecture.md).
const LAYERS: &[&[&str]] = &[
    &["contract", "stats", "digest", "exec", "progress", "text", "cleanup", "codes", "lang"],
    &["verdict"],
    &["ingest", "rulebook", "generate"],
    &["findings"],
    &["engine", "distributed"],
    &["report", "output", "inspect", "audit", "import", "baseline", "waivers", "junit", "redact", "budget"],
    &["cli", "commands"],
];

/// Every `.rs` file under a directory.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to.
fn top(path: &Path) -> String {
    let rel = path.strip_prefix("src").unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// Top-level modules a source text names through `crate::` paths (test
/// modules excluded).
fn uses(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            inner.split(',').map(|s| s.trim().split("::").next().unwrap_or("").to_string()).collect()
        } else {
            vec![rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()]
        };
        out.extend(names.into_iter().filter(|n| modules.contains(n)));
    }
    out
}

#[test]
fn layers_hold_and_no_module_cycle_exists() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| top(f)).filter(|m| m != "lib" && m != "main").collect();
    let rank: BTreeMap<&str, usize> =
        LAYERS.iter().enumerate().flat_map(|(i, l)| l.iter().map(move |m| (*m, i))).collect();
    for m in &modules {
        assert!(rank.contains_key(m.as_str()), "module `{m}` is in no layer of docs/architecture.md");
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = top(f);
        if m == "lib" || m == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for used in uses(&text, &modules) {
            if used != m {
                assert!(rank[used.as_str()] <= rank[m.as_str()], "{}: `{m}` uses `{used}`, a later layer", f.display());
                graph.entry(m.clone()).or_default().insert(used);
            }
        }
    }
    // No cycle: a depth-first search finds no back edge.
    fn visit(m: &str, graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if done.contains(m) {
            return;
        }
        assert!(!path.iter().any(|p| p == m), "import cycle: {} -> {m}", path.join(" -> "));
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn only_the_command_layer_knows_clap() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    for f in files {
        let m = top(&f);
        let text = std::fs::read_to_string(&f).unwrap();
        if text.contains("clap::") || text.contains("use clap") {
            assert!(["cli", "commands", "main"].contains(&m.as_str()), "{} uses clap", f.display());
        }
    }
}

#[test]
fn kind_names_are_literals_only_in_their_own_module() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    for (kind, _, _) in hutong::engine::kinds::KINDS {
        let quoted = format!("\"{kind}\"");
        let holders: Vec<String> = files
            .iter()
            .filter(|f| std::fs::read_to_string(f).unwrap().contains(&quoted))
            .map(|f| f.display().to_string())
            .collect();
        assert_eq!(holders, [format!("src/engine/kinds/{kind}.rs")], "{kind}");
    }
}
