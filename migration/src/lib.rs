//! Canopy's database schema as frozen, ordered migrations.
//!
//! This crate never imports the application or its entities: a migration describes the
//! storage as it was on the day it landed. Add a new file for every change; never edit one
//! that has landed.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_schema;
mod m20261207_000001_create_link_requests;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_schema::Migration),
            Box::new(m20261207_000001_create_link_requests::Migration),
        ]
    }
}
