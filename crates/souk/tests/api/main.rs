//! Integration tests: the real application on a random loopback port, a fresh database per test.
//!
//! Backend: SQLite in a temporary directory by default; PostgreSQL when
//! `SOUK_TEST_DATABASE_URL` names a server (a fresh database is created on it per test).
//! `scripts/test` runs the whole suite once per backend.

mod helpers;

mod admin_catalog;
mod admin_generated;
mod admin_journey;
mod admin_lighthouse;
mod admin_money;
mod admin_operations;
mod admin_panel;
mod admin_people;
mod admin_tour;
mod browser;
mod scenario;
mod store_branding;
mod store_lighthouse;
mod store_payments;
mod store_tour;
mod storefront;
mod vendor_dashboard;
mod vendor_images;
mod vendor_products;
mod vendor_tour;

mod api_keys;
mod auth;
mod backup;
mod bounded_queries;
mod catalog_cache;
mod catalog_facets;
mod catalog_listing;
mod catalog_plans;
mod catalog_reads;
mod catalog_typos;
mod checkout;
mod cli;
mod cors;
mod crash;
mod demo;
mod events;
mod fulfilment;
mod hostile_input;
mod import_export;
mod inventory;
mod jobs_email;
mod loadtest;
mod operations;
mod payments;
mod queue;
mod roles;
mod scale_out;
mod secrets_at_rest;
mod secrets_in_logs;
mod security;
mod smtp;
mod storage;
mod tenancy;
mod use_cases;
mod webhooks;
