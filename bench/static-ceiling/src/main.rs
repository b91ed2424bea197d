//! The benchmark's ceiling: the smallest axum server that answers every GET with a fixed JSON
//! body read from a file. Souk's catalog figures are compared with this on the same machine.
//!
//! Usage: static-ceiling ADDR BODY_FILE

use axum::Router;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let file = args.next().expect("usage: static-ceiling ADDR BODY_FILE");
    let body: &'static [u8] = std::fs::read(&file).expect("read body file").leak();
    let app = Router::new().fallback(get(move || async move {
        ([(header::CONTENT_TYPE, "application/json")], body)
    }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!(
        "static-ceiling listening on http://{addr} ({} bytes)",
        body.len()
    );
    axum::serve(listener, app).await.expect("serve");
}
