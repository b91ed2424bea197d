//! Catalog pages rendered once for many shoppers.
//!
//! Most visits to the home, search, category, shop and product pages come from people with no
//! cart, no account and no message waiting — first visits, and every crawler. Their pages
//! differ only in the request's CSP nonce and the browser's form token. Such a page is
//! rendered once, with stand-ins for those two, kept in the catalog cache beside the data it
//! was made from (and emptied with it), and each request puts its own nonce and token in
//! place of the stand-ins. A shopper with a cart, an account or a message gets a page rendered
//! for them, from the same cached data.

use std::ops::Range;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;

use sha2::{Digest, Sha256};

use super::{ShopError, Shopper, cached};
use crate::AppState;
use crate::web::CspNonce;
use crate::web::page::{KnownEtag, weak_etag};

/// Largest page kept.
const MAX_PAGE_BYTES: usize = 512 * 1024;

/// Random text that marks, in a page rendered for anyone, where the nonce and the form token
/// go. Hex, so escaping leaves it as it is; new in every process, so no page text can contain
/// it by design.
struct StandIns {
    nonce: String,
    csrf: String,
}

fn stand_ins() -> &'static StandIns {
    static STAND_INS: OnceLock<StandIns> = OnceLock::new();
    STAND_INS.get_or_init(|| {
        let hex = || {
            let mut bytes = [0u8; 16];
            getrandom::fill(&mut bytes).expect("the OS random number generator is available");
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        StandIns {
            nonce: hex(),
            csrf: hex(),
        }
    })
}

/// One piece of a shared page.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(Range<usize>),
    Nonce,
    Csrf,
}

/// A page as anyone without a cart, an account or a message sees it, cut where the nonce and
/// form token go.
struct SharedPage {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
    pieces: Vec<Piece>,
    /// SHA-256 of the page without its nonce, with a mark where the form token goes: with the
    /// browser's token, it gives each browser's `ETag` without hashing the page again.
    digest: [u8; 32],
}

impl SharedPage {
    fn cut(status: StatusCode, headers: HeaderMap, html: String, stand_ins: &StandIns) -> Self {
        let mut pieces = Vec::new();
        let mut at = 0;
        loop {
            let rest = &html[at..];
            let next = [
                (
                    rest.find(&stand_ins.nonce),
                    Piece::Nonce,
                    stand_ins.nonce.len(),
                ),
                (
                    rest.find(&stand_ins.csrf),
                    Piece::Csrf,
                    stand_ins.csrf.len(),
                ),
            ]
            .into_iter()
            .filter_map(|(found, piece, len)| found.map(|i| (i, piece, len)))
            .min_by_key(|(i, _, _)| *i);
            match next {
                Some((i, piece, len)) => {
                    if i > 0 {
                        pieces.push(Piece::Text(at..at + i));
                    }
                    pieces.push(piece);
                    at += i + len;
                }
                None => {
                    if at < html.len() {
                        pieces.push(Piece::Text(at..html.len()));
                    }
                    break;
                }
            }
        }
        let mut hash = Sha256::new();
        for piece in &pieces {
            match piece {
                Piece::Text(range) => hash.update(&html[range.clone()]),
                Piece::Nonce => hash.update([0]),
                Piece::Csrf => hash.update([1]),
            }
        }
        SharedPage {
            status,
            headers,
            digest: hash.finalize().into(),
            html,
            pieces,
        }
    }

    /// The page's `ETag` for the browser whose form token is `csrf`: it changes with the
    /// page and with the token, like the `ETag` of a page rendered for one shopper.
    fn etag(&self, csrf: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(self.digest);
        hash.update(csrf);
        weak_etag(&hash.finalize())
    }

    /// The page with this request's nonce and this browser's form token.
    fn fill(&self, nonce: &str, csrf: &str) -> String {
        let mut out = String::with_capacity(self.html.len() + 4 * nonce.len().max(csrf.len()));
        for piece in &self.pieces {
            match piece {
                Piece::Text(range) => out.push_str(&self.html[range.clone()]),
                Piece::Nonce => out.push_str(nonce),
                Piece::Csrf => out.push_str(csrf),
            }
        }
        out
    }
}

/// A public catalog page at `uri`: shared by every shopper without a cart, an account or a
/// message (`x-cache: hit`, or `miss` when the page was not there or not fresh), rendered by `render` for anyone else or
/// when the catalog cache is off. An error (404, 410…) is never kept: it is rendered for each
/// request by the caller, like any page of one shopper.
pub(super) async fn public_page<R>(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
    uri: &Uri,
    render: impl FnOnce(Shopper, CspNonce) -> R,
) -> Result<Response, ShopError>
where
    R: Future<Output = Result<Response, ShopError>> + Send + 'static,
{
    if shopper.customer.is_some() || shopper.cart_id.is_some() || !state.cache.is_on() {
        return render(shopper.clone(), nonce.clone()).await;
    }
    let stand_ins = stand_ins();
    // Whether this request found no fresh page, and rendered it or started rendering it again.
    let mut rendered_now = false;
    // The shop's address is part of the key: canonical links and structured data show it.
    let key = format!("store:page:{}{uri}", shopper.base);
    let page = cached(state, key, || {
        rendered_now = true;
        let anyone = Shopper {
            base: shopper.base.clone(),
            csrf: stand_ins.csrf.clone(),
            cart_id: None,
            customer: None,
        };
        let rendering = render(anyone, CspNonce(stand_ins.nonce.clone(), nonce.1));
        async move {
            let (parts, body) = rendering.await?.into_parts();
            let body = axum::body::to_bytes(body, MAX_PAGE_BYTES)
                .await
                .ok()
                .and_then(|b| String::from_utf8(b.to_vec()).ok())
                .ok_or_else(ShopError::internal)?;
            let bytes = body.len() + 256;
            Ok((
                SharedPage::cut(parts.status, parts.headers, body, stand_ins),
                bytes,
            ))
        }
    })
    .await?;
    let mut response = Response::new(Body::from(page.fill(&nonce.0, &shopper.csrf)));
    *response.status_mut() = page.status;
    *response.headers_mut() = page.headers.clone();
    // Hashing the filled page again for its ETag took as long as everything else a shared
    // page costs but writing it out.
    response
        .extensions_mut()
        .insert(KnownEtag(page.etag(&shopper.csrf)));
    response.headers_mut().insert(
        "x-cache",
        HeaderValue::from_static(if rendered_now { "miss" } else { "hit" }),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_at_every_stand_in_and_filled_back_in_order() {
        let s = StandIns {
            nonce: "NNNN".into(),
            csrf: "CC".into(),
        };
        let html = "NNNN<p>CC and NNNN</p>CCx".to_owned();
        let page = SharedPage::cut(StatusCode::OK, HeaderMap::new(), html, &s);
        assert_eq!(
            page.pieces,
            [
                Piece::Nonce,
                Piece::Text(4..7),
                Piece::Csrf,
                Piece::Text(9..14),
                Piece::Nonce,
                Piece::Text(18..22),
                Piece::Csrf,
                Piece::Text(24..25),
            ]
        );
        assert_eq!(page.fill("n1", "tok"), "n1<p>tok and n1</p>tokx");
        let plain = SharedPage::cut(StatusCode::OK, HeaderMap::new(), "plain".into(), &s);
        assert_eq!(plain.fill("n", "t"), "plain");
    }
}
