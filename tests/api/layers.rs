//! The read layer owns every query: `src/graphql/` translates and runs none itself.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_graphql_layer_imports_no_seaorm_query_traits_and_runs_no_query() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/graphql"), &mut files);
    assert!(files.len() > 10, "the GraphQL modules were found");
    // Holding a connection handle to pass down is allowed; anything else of SeaORM is a
    // query written in the wrong layer.
    let allowed = "sea_orm::DatabaseConnection";
    let forbidden = ["::Entity::find", "find_by_id(", ".query_all(", ".query_one(", "sea_query", "Condition::"];
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let mentions_seaorm = line.match_indices("sea_orm").any(|(at, _)| !line[at..].starts_with(allowed));
            if mentions_seaorm || forbidden.iter().any(|f| line.contains(f)) {
                offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offences.is_empty(), "queries belong in src/read/, not in src/graphql/:\n{}", offences.join("\n"));
}

/// The layers of `src/`, lowest first (ARCHITECTURE.md draws them). A file may import
/// from its own layer and the ones below, never from above.
const LAYERS: [(&str, &[&str]); 6] = [
    (
        "base",
        &[
            "error.rs",
            "config.rs",
            "crypto.rs",
            "telemetry.rs",
            "metrics.rs",
            "rate_limit.rs",
            "events.rs",
            "db.rs",
            "trusted_documents.rs",
        ],
    ),
    ("entity", &["entity/"]),
    ("domain", &["domain/", "documents/", "seed.rs"]),
    ("read", &["read/"]),
    ("graphql", &["graphql/"]),
    ("http", &["http/", "cli.rs", "lib.rs", "main.rs"]),
];

fn layer_of(relative: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, places)| {
        places.iter().any(|place| if place.ends_with('/') { relative.starts_with(place) } else { relative == *place })
    })
}

/// The module path of a file below `src/`: `read/loaders/mod.rs` is `read::loaders`.
fn module_of(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> = relative.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
        parts.pop();
    }
    parts
}

/// The file that defines the longest module prefix of `path`.
fn file_of(src: &Path, path: &[String]) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let joined = path[..n].join("/");
        [format!("{joined}.rs"), format!("{joined}/mod.rs")].into_iter().find(|f| src.join(f).is_file())
    })
}

/// Every `crate::` and `super::` path a file names outside its tests, as the file it
/// points into.
fn imports_of(src: &Path, relative: &str) -> Vec<String> {
    let text = std::fs::read_to_string(src.join(relative)).unwrap();
    // Test modules sit at the end of a file (clippy keeps them there); their `super::`
    // means the file itself.
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.as_str();
    let module = module_of(relative);
    let mut targets = Vec::new();
    for (at, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at..];
        let mut segments: Vec<String> = rest
            .split("::")
            .map_while(|s| {
                let name: String = s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                (!name.is_empty() && name.len() == s.len()).then_some(name)
            })
            .collect();
        // The last segment is cut short by `{`, `(`, `;`... : take the name it starts with.
        let tail: String = rest
            .split("::")
            .nth(segments.len())
            .map(|s| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
            .unwrap_or_default();
        if !tail.is_empty() {
            segments.push(tail);
        }
        let path: Vec<String> = match segments.first().map(String::as_str) {
            Some("crate") => segments[1..].to_vec(),
            Some("super") => {
                let parent = &module[..module.len().saturating_sub(1)];
                parent.iter().cloned().chain(segments[1..].iter().cloned()).collect()
            }
            _ => continue,
        };
        if let Some(file) = file_of(src, &path)
            && file != relative
        {
            targets.push(file);
        }
    }
    targets.sort();
    targets.dedup();
    targets
}

/// The import structure of `src/`: layers import downward only, and no files import each
/// other in a circle, except the GraphQL object types (an `Account` has a `Group`, whose
/// members have `Account`s).
#[test]
fn every_file_imports_only_its_own_layer_and_lower_ones_and_nothing_goes_round_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let relative: Vec<String> =
        files.iter().map(|f| f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/")).collect();
    let mut offences = Vec::new();
    let mut edges: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in &relative {
        let Some(layer) = layer_of(file) else {
            offences.push(format!("{file} is in no layer: add it to LAYERS (and ARCHITECTURE.md)"));
            continue;
        };
        for target in imports_of(&src, file) {
            let target_layer = layer_of(&target).unwrap_or(usize::MAX);
            if target_layer > layer {
                offences.push(format!(
                    "{file} ({}) imports {target} ({}), a higher layer",
                    LAYERS[layer].0,
                    LAYERS.get(target_layer).map_or("no layer", |l| l.0)
                ));
            }
            edges.entry(file.clone()).or_default().push(target);
        }
    }
    // Circles: a depth-first search from every file, along imports.
    let object_type = |file: &str| {
        file.starts_with("graphql/")
            && std::fs::read_to_string(src.join(file))
                .is_ok_and(|t| t.contains("#[Object") || t.contains("impl OutputType for"))
    };
    let mut circles = std::collections::BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    if !path.iter().all(|f| object_type(f)) {
                        let mut circle = path.clone();
                        circle.sort();
                        circles.insert(circle.join(" -> "));
                    }
                } else if !path.contains(next) && path.len() < 12 {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    offences.extend(circles.into_iter().map(|c| format!("files import each other in a circle: {c}")));
    assert!(relative.len() > 60 && edges.len() > 40, "the files and their imports were read");
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// The walk above can fail: an upward import and a circle, written as a little tree.
#[test]
fn the_layer_check_sees_an_upward_import_and_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("domain")).unwrap();
    std::fs::write(src.join("error.rs"), "use crate::domain::family::Change;\n").unwrap();
    std::fs::create_dir_all(src.join("read")).unwrap();
    std::fs::write(src.join("read/a.rs"), "use super::b::X;\n").unwrap();
    std::fs::write(src.join("read/b.rs"), "pub fn f() { crate::read::a::g() }\n").unwrap();
    std::fs::write(src.join("domain/family.rs"), "").unwrap();
    assert_eq!(imports_of(src, "error.rs"), vec!["domain/family.rs"]);
    assert!(layer_of("error.rs") < layer_of("domain/family.rs"));
    assert_eq!(imports_of(src, "read/a.rs"), vec!["read/b.rs"]);
    assert_eq!(imports_of(src, "read/b.rs"), vec!["read/a.rs"]);
}
