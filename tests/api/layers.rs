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
