//! The crate's layers, and the check that imports between its top-level modules flow down.
//!
//! `LAYERS` below is where the layers are decided (docs/ARCHITECTURE.md draws them, and
//! `the_architecture_doc_draws_these_layers` keeps that picture equal to this list). A module
//! may name modules of the layers below its own, never one of its own layer, never one above.
//! The check reads every `src/**/*.rs` of the library as text (comments and string literals
//! left out) and takes each path that leaves its file's top-level module: `crate::x::…`,
//! `$crate::x::…`, `crate::{x::…, y}` (grouped, over any number of lines) and `super::…`
//! that climbs to the crate's root, wherever it stands (a `use`, an expression, a type, an
//! attribute). `src/main.rs` and `src/bin/` are crates of their own above every layer: nothing
//! of the library can name them, so they are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first, each with what it holds.
const LAYERS: &[(&[&str], &str)] = &[
    (
        &["domain", "client", "memory", "security", "statement_pdf"],
        "rules with no I/O; the client's address; leaf helpers; PDF layout",
    ),
    (&["config"], "the layered settings, checked as they load"),
    (&["store", "telemetry"], "the database (diesel, transactions); logging"),
    (&["ledger"], "the money operations: the model of their rules, each backend's statements, group commit"),
    (&["credentials", "error"], "password hashing and tokens; the API's one error type"),
    (&["state"], "AppState: what the running service holds, built once at start-up"),
    (&["auth", "jobs"], "who is calling (sessions, throttles, extractors); the service's own work"),
    (&["api"], "HTTP: handlers, DTOs, the OpenAPI document"),
    (&["delivery", "console"], "the webhook worker (it sends the API's view of an event); the staff console"),
    (&["startup"], "builds the application: state, server, workers"),
    (&["seed"], "the data generator: template lives through the API, then cloned"),
    (&["cli"], "the command line"),
];

/// One import that leaves its top-level module.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Import {
    to: String,
    line: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// The tokens of Rust source, without comments, string, char and number literals.
fn tokens(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            while i < chars.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    (depth, i) = (depth + 1, i + 2);
                } else if at(i) == '*' && at(i + 1) == '/' {
                    (depth, i) = (depth - 1, i + 2);
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                line += usize::from(chars[i] == '\n');
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' && at(i + 1) == '\\' {
            i += 3; // past the escaped character, which may be a quote
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '\'' && at(i + 2) == '\'' {
            i += 3; // a char literal; otherwise a lifetime or a label, whose name follows
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
            if matches!(word.as_str(), "r" | "br" | "cr") && at(i + hashes) == '"' {
                // A raw string: it ends at a quote followed by as many hashes.
                i += hashes + 1;
                while i < chars.len() && !(chars[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#')) {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
                i += 1 + hashes;
            } else if word == "r" && hashes == 1 {
                i += 1; // a raw identifier (`r#type`): the name follows
            } else {
                out.push((Token::Ident(word), line));
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            if c == '\n' {
                line += 1;
            } else if !c.is_whitespace() {
                out.push((Token::Punct(c), line));
            }
            i += 1;
        }
    }
    out
}

/// The module path of a file under `src/`: `config/production.rs` is `[config, production]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The first name of each item of a group that opens at `tokens[open]`: `{a::x, b::{y, z}, c}`
/// gives a, b and c.
fn group_heads(tokens: &[(Token, usize)], open: usize) -> Vec<(String, usize)> {
    let (mut heads, mut depth, mut expect_head) = (Vec::new(), 0, true);
    for (token, line) in &tokens[open..] {
        match token {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Punct(',') if depth == 1 => expect_head = true,
            Token::Ident(name) if depth == 1 && expect_head => {
                heads.push((name.clone(), *line));
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

/// The imports of one file (whose module path is `path`) that name the crate root's items; an
/// error where its braces do not balance as read (a literal misread).
fn root_imports(source: &str, path: &[String]) -> Result<Vec<Import>, String> {
    let tokens = tokens(source);
    let ident = |k: usize| match tokens.get(k) {
        Some((Token::Ident(name), _)) => Some(name.as_str()),
        _ => None,
    };
    let is = |k: usize, want: &Token| tokens.get(k).is_some_and(|(t, _)| t == want);
    // Inline modules (`mod tests { … }`) by the brace depth they opened at.
    let (mut inline, mut depth, mut imports) = (Vec::<usize>::new(), 0usize, Vec::new());
    let mut k = 0;
    while k < tokens.len() {
        match &tokens[k].0 {
            Token::Punct('{') => {
                depth += 1;
                if k >= 2 && ident(k - 2) == Some("mod") {
                    inline.push(depth);
                }
            }
            Token::Punct('}') => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth = depth.checked_sub(1).ok_or(format!("line {}: a `}}` closes nothing", tokens[k].1))?;
            }
            Token::Ident(word) if (word == "crate" || word == "super") && is(k + 1, &Token::PathSep) => {
                if k > 0 && is(k - 1, &Token::PathSep) {
                    k += 1;
                    continue; // the middle of a path (`super::super`) was taken with its start
                }
                let mut after = k + 2;
                if word == "super" {
                    let here = path.len() + inline.len();
                    let mut climbs = 1;
                    while ident(after) == Some("super") && is(after + 1, &Token::PathSep) {
                        (climbs, after) = (climbs + 1, after + 2);
                    }
                    // Fewer climbs stay inside this top-level module; more name nothing.
                    if climbs != here {
                        k = after;
                        continue;
                    }
                }
                let heads = match &tokens.get(after) {
                    Some((Token::Ident(name), line)) => vec![(name.clone(), *line)],
                    Some((Token::Punct('{'), _)) => group_heads(&tokens, after),
                    Some((Token::Punct('*'), line)) => vec![("*".to_owned(), *line)],
                    _ => Vec::new(),
                };
                imports.extend(heads.into_iter().filter(|(n, _)| n != "self").map(|(to, line)| Import { to, line }));
                k = after;
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    if depth != 0 {
        return Err(format!("{depth} `{{` left open at the end"));
    }
    let own = path.first().cloned().unwrap_or_default();
    imports.retain(|i| i.to != own);
    Ok(imports)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Edges between top-level modules, each with the places that make it ("src/x.rs:12").
type Edges = BTreeMap<(String, String), Vec<String>>;

fn crate_edges() -> (Edges, Vec<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let (mut edges, mut problems) = (Edges::new(), Vec::new());
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        if relative.starts_with("bin") || relative == Path::new("main.rs") || relative == Path::new("lib.rs") {
            continue;
        }
        let path = module_path(relative);
        let source = std::fs::read_to_string(&file).unwrap();
        let imports = root_imports(&source, &path).unwrap_or_else(|why| {
            problems.push(format!("src/{}: braces do not balance as read ({why})", relative.display()));
            Vec::new()
        });
        for import in imports {
            let place = format!("src/{}:{}", relative.display(), import.line);
            if import.to == "*" {
                problems.push(format!("{place}: a glob of the crate's root hides which modules it takes"));
                continue;
            }
            edges.entry((path[0].clone(), import.to)).or_default().push(place);
        }
    }
    (edges, problems)
}

/// The modules `src/lib.rs` declares.
fn declared_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let tokens = tokens(&lib);
    let mut modules = BTreeSet::new();
    for window in tokens.windows(3) {
        if let [(Token::Ident(m), _), (Token::Ident(name), _), (Token::Punct(';'), _)] = window
            && m == "mod"
        {
            modules.insert(name.clone());
        }
    }
    modules
}

/// The shortest way from `from` to `to` in `graph` (both included), if there is one.
fn way(from: &str, to: &str, graph: &BTreeMap<&str, BTreeSet<&str>>) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut frontier = vec![from];
    while !frontier.is_empty() && !came_from.contains_key(to) {
        let mut next = Vec::new();
        for at in frontier {
            for step in graph.get(at).into_iter().flatten() {
                if *step != from && !came_from.contains_key(step) {
                    came_from.insert(step, at);
                    next.push(*step);
                }
            }
        }
        frontier = next;
    }
    let mut path = vec![to.to_owned()];
    while path.last().map(String::as_str) != Some(from) {
        path.push((*came_from.get(path.last()?.as_str())?).to_owned());
    }
    path.reverse();
    Some(path)
}

fn describe(edges: &Edges, from: &str, to: &str) -> String {
    let mut places = edges[&(from.to_owned(), to.to_owned())].clone();
    places.dedup(); // two paths on one line
    let shown: Vec<&str> = places.iter().take(3).map(|p| p.as_str()).collect();
    let more = if places.len() > 3 { format!(" and {} more", places.len() - 3) } else { String::new() };
    format!("{from} -> {to} ({}{more})", shown.join(", "))
}

#[test]
fn every_top_level_module_has_a_layer() {
    let layered: BTreeSet<String> = LAYERS.iter().flat_map(|(m, _)| m.iter()).map(|m| (*m).to_owned()).collect();
    assert_eq!(layered.len(), LAYERS.iter().map(|(m, _)| m.len()).sum::<usize>(), "a module is in two layers");
    assert_eq!(declared_modules(), layered, "src/lib.rs's modules and LAYERS differ");
}

#[test]
fn top_level_modules_import_each_other_in_no_circle() {
    let (edges, problems) = crate_edges();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().insert(to);
    }
    // Each import that has a way back closes a circle: shown with the shortest one.
    let mut report = Vec::new();
    for (from, to) in edges.keys() {
        if let Some(back) = way(to, from, &graph) {
            report.push(format!("  {from} -> {}\n    {}", back.join(" -> "), describe(&edges, from, to)));
        }
    }
    assert!(report.is_empty(), "top-level modules import each other in a circle:\n{}", report.join("\n"));
}

#[test]
fn imports_between_top_level_modules_only_go_down() {
    let (edges, problems) = crate_edges();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let layer_of: BTreeMap<&str, usize> =
        LAYERS.iter().enumerate().flat_map(|(n, (modules, _))| modules.iter().map(move |m| (*m, n))).collect();
    let mut wrong = Vec::new();
    for (from, to) in edges.keys() {
        let (Some(&above), Some(&below)) = (layer_of.get(from.as_str()), layer_of.get(to.as_str())) else {
            wrong.push(format!("  {} (a module without a layer)", describe(&edges, from, to)));
            continue;
        };
        if below >= above {
            let how = if below == above { "within layer" } else { "up from layer" };
            wrong.push(format!("  {} [{how} {} to {}]", describe(&edges, from, to), above + 1, below + 1));
        }
    }
    assert!(wrong.is_empty(), "imports that do not go down the layers (1 = the ground):\n{}", wrong.join("\n"));
}

#[test]
fn the_architecture_doc_draws_these_layers() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md")).unwrap();
    let section = doc.split("\n## Layers\n").nth(1).expect("docs/ARCHITECTURE.md has a section `## Layers`");
    let picture = section.split("```text\n").nth(1).and_then(|p| p.split("```").next()).expect("a ```text picture");
    let drawn: Vec<Vec<String>> = picture
        .lines()
        .map(|l| {
            l.split(|c: char| !c.is_alphanumeric() && c != '_').filter(|w| !w.is_empty()).map(str::to_owned).collect()
        })
        .filter(|words: &Vec<String>| !words.is_empty())
        .collect();
    let listed: Vec<Vec<String>> =
        LAYERS.iter().rev().map(|(m, _)| m.iter().map(|s| (*s).to_owned()).collect()).collect();
    assert_eq!(drawn, listed, "the picture under `## Layers` (top first) and LAYERS (bottom first) differ");
}

#[test]
fn the_reader_takes_grouped_nested_and_climbing_paths() {
    let source = r##"
        use crate::{
            api::AppState,
            store::{self, Db}, // crate::config in a comment
        };
        use super::super::x; /* crate::jobs /* nested */ crate::cli */
        const S: &str = "crate::delivery \" crate::delivery";
        const R: &str = r#"crate::startup"#;
        fn f<'a>(c: char) -> bool { c == '{' || c == '\'' && crate::domain::time::now().is_some() }
        macro_rules! m { () => { $crate::error::ApiError } }
        #[utoipa::path(body = crate::error::Problem)]
        fn g() {}
        mod tests { use super::*; use super::super::auth::X; }
    "##;
    let to = |path: &[&str]| {
        let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        root_imports(source, &path).unwrap().into_iter().map(|i| format!("{}:{}", i.to, i.line)).collect::<Vec<_>>()
    };
    // From config::production, `super::super` is the root; `tests` climbs to config only.
    assert_eq!(to(&["config", "production"]), ["api:3", "store:4", "x:6", "domain:9", "error:10", "error:11"]);
    // From config, `super::super` climbs past the root (naming nothing), `tests` to the root.
    assert_eq!(to(&["config"]), ["api:3", "store:4", "domain:9", "error:10", "error:11", "auth:13"]);
    assert!(root_imports("fn f() { '}' ", &[]).is_err(), "an open brace is told");
    assert_eq!(module_path(Path::new("store/money/mod.rs")), ["store", "money"]);
    assert_eq!(module_path(Path::new("config.rs")), ["config"]);
}
