//! The committed `schema.graphql` is the generated SDL.

#[test]
fn the_committed_schema_is_the_generated_schema() {
    let path = format!("{}/schema.graphql", env!("CARGO_MANIFEST_DIR"));
    let generated = baton::graphql::schema::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "schema.graphql is stale; run `UPDATE_SCHEMA=1 cargo test` and commit it");
}
