//! `schema.graphql` is the exported SDL; it must equal what the server serves.

#[test]
fn schema_file_matches_the_server_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let current = canopy::graphql::sdl();
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(path, &current).expect("write schema.graphql");
        return;
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == current,
        "schema.graphql is out of date: regenerate it with `UPDATE_SCHEMA=1 cargo test schema_file` \
         (or `cargo run -- schema > schema.graphql`) and review the diff"
    );
}

#[test]
fn every_type_and_field_has_a_description() {
    let sdl = canopy::graphql::sdl();
    // Every object type, interface, enum and input of ours is preceded by a doc string.
    let lines: Vec<&str> = sdl.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let is_definition =
            ["type ", "input ", "enum ", "interface ", "scalar "].iter().any(|k| trimmed.starts_with(k));
        // Only the scalars async-graphql defines itself; roots, connections and edges too
        // need a description (GraphiQL's Docs explorer and codegen show them).
        let builtin = ["scalar Date", "scalar DateTime"].iter().any(|b| trimmed.starts_with(b));
        if is_definition && !builtin && !lines.get(i.wrapping_sub(1)).is_some_and(|p| p.trim_end().ends_with("\"\"\""))
        {
            missing.push(trimmed.to_owned());
        }
    }
    assert!(missing.is_empty(), "types without a description: {missing:#?}");
}
