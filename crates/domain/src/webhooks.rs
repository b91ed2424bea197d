//! Outgoing webhooks: which events an endpoint may subscribe to, where it may point, how its
//! secret is derived and how a delivery is signed (the Standard Webhooks scheme).
//!
//! Secrets are never stored: an endpoint's secret is `HMAC-SHA256(server key, endpoint id and
//! secret version)`, so the database alone reveals nothing, and rotating bumps the version.

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// Event types an endpoint may subscribe to. Vendors receive only their own part of an order
/// event; platform (admin) endpoints receive the whole order and every vendor's catalog and
/// stock events.
pub const EVENT_TYPES: &[&str] = &[
    "order.created",
    "order.paid",
    "order.fulfilled",
    "order.partially_fulfilled",
    "order.completed",
    "order.cancelled",
    "order.refunded",
    "order.partially_refunded",
    "payment.failed",
    "product.updated",
    "stock.low",
];

/// Event types that exist only per vendor (no platform-wide row): platform endpoints receive
/// each vendor's copy.
pub const VENDOR_ONLY_TYPES: &[&str] = &["product.updated", "stock.low"];

/// Event types that exist only platform-wide (no vendor copy): vendor endpoints cannot
/// subscribe to them.
pub const PLATFORM_ONLY_TYPES: &[&str] = &["payment.failed"];

pub fn is_event_type(kind: &str) -> bool {
    EVENT_TYPES.contains(&kind)
}

/// The prefix of a secret as shown to users (Standard Webhooks' convention).
pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing key: derived, never stored.
pub fn endpoint_key(server_key: &[u8], endpoint_id: Uuid, version: i64) -> [u8; 32] {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(server_key).expect("any key length");
    mac.update(b"souk webhook endpoint secret\0");
    mac.update(endpoint_id.as_bytes());
    mac.update(&version.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// The secret as given to the receiver: `whsec_` + base64 of the key.
pub fn format_secret(key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// 32 random bytes: a fresh server key.
pub fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    bytes
}

/// Reads a server key given as base64 (standard or URL-safe, padded or not) or hex; it must
/// hold at least 32 bytes.
pub fn parse_server_key(text: &str) -> Result<Vec<u8>, &'static str> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    let hex = || -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect()
    };
    let bytes = hex()
        .or_else(|| STANDARD.decode(text).ok())
        .or_else(|| STANDARD_NO_PAD.decode(text).ok())
        .or_else(|| URL_SAFE.decode(text).ok())
        .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
        .ok_or("is neither base64 nor hex")?;
    if bytes.len() < 32 {
        return Err("must hold at least 32 bytes (e.g. `openssl rand -base64 32`)");
    }
    Ok(bytes)
}

/// The `webhook-signature` header value for one attempt: `v1,` + base64 of
/// HMAC-SHA256(key, "{id}.{timestamp}.{body}").
pub fn sign(key: &[u8], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-id` of a message: stable across its retries, so receivers can drop duplicates.
pub fn message_header_id(message_id: Uuid) -> String {
    format!("msg_{}", message_id.simple())
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared
/// (CGNAT), documentation, multicast, unspecified or otherwise reserved. Deliveries to anything
/// else are refused unless the operator allows private targets, so an endpoint URL cannot be
/// used to reach the server's own network (SSRF).
pub fn ip_is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_is_public(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_is_public(v4);
            }
            let s = v6.segments();
            if s[..4].iter().all(|&x| x == 0) && s[4] == 0xffff && s[5] == 0 {
                // IPv4-translated (`::ffff:0:a.b.c.d`, SIIT): an IPv4 address in disguise.
                return false;
            }
            if s[..6].iter().all(|&x| x == 0) {
                // Deprecated IPv4-compatible form (`::a.b.c.d`), and `::`/`::1`.
                return false;
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 to any IPv4 (and 64:ff9b:1::/48)
                || (s[0] == 0x2002) // 6to4 embeds any IPv4
                || (s[0] == 0x2001 && s[1] == 0)) // Teredo
        }
    }
}

fn v4_is_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240) // reserved
}

/// Where endpoints may point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Plain `http://` targets are refused when false (production: the shop runs on https).
    pub allow_http: bool,
    /// Loopback and private addresses are allowed (tests, an internal integration).
    pub allow_private: bool,
}

/// Why an endpoint URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("is not an absolute http(s) URL")]
    NotUrl,
    #[error("must use https")]
    NotHttps,
    #[error("must not contain a user name or password")]
    Credentials,
    #[error("must not point at a loopback, private or reserved address")]
    Private,
    #[error("is longer than 2048 characters")]
    TooLong,
}

/// Checks an endpoint URL against `policy` (without DNS: names are checked again, resolved,
/// at each delivery). Returns the URL normalised.
pub fn check_target(raw: &str, policy: TargetPolicy) -> Result<url::Url, TargetError> {
    if raw.len() > 2048 {
        return Err(TargetError::TooLong);
    }
    let url = url::Url::parse(raw.trim()).map_err(|_| TargetError::NotUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err(TargetError::NotHttps),
        _ => return Err(TargetError::NotUrl),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    let host = url.host().ok_or(TargetError::NotUrl)?;
    if !policy.allow_private {
        let blocked = match host {
            url::Host::Ipv4(ip) => !ip_is_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => !ip_is_public(IpAddr::V6(ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost") || name.ends_with(".internal")
            }
        };
        if blocked {
            return Err(TargetError::Private);
        }
    }
    Ok(url)
}

/// A literal IPv6 or IPv4 host in a URL, if it is one.
pub fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_follows_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_differ_per_endpoint_and_version_and_round_trip() {
        let server = [7u8; 32];
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_ne!(endpoint_key(&server, a, 1), endpoint_key(&server, b, 1));
        assert_ne!(endpoint_key(&server, a, 1), endpoint_key(&server, a, 2));
        assert_eq!(endpoint_key(&server, a, 1), endpoint_key(&server, a, 1));
        assert_ne!(endpoint_key(&[8u8; 32], a, 1), endpoint_key(&server, a, 1));
        let secret = format_secret(&endpoint_key(&server, a, 1));
        let decoded = STANDARD
            .decode(secret.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(decoded, endpoint_key(&server, a, 1));
    }

    #[test]
    fn server_keys_are_read_from_base64_or_hex_and_must_be_long_enough() {
        let key = [0xabu8; 32];
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_server_key(&hex).unwrap(), key);
        assert_eq!(parse_server_key(&STANDARD.encode(key)).unwrap(), key);
        assert_eq!(
            parse_server_key(&format!(" {}\n", STANDARD.encode(key))).unwrap(),
            key
        );
        assert!(parse_server_key(&STANDARD.encode([1u8; 16])).is_err());
        assert!(parse_server_key("not a key!").is_err());
    }

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:0:7f00:1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b::a00:1",
            "::7f00:1",
            "::5db8:d822",
        ] {
            assert!(!ip_is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(ip_is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn target_urls_are_checked_against_the_policy() {
        let strict = TargetPolicy {
            allow_http: false,
            allow_private: false,
        };
        assert!(check_target("https://hooks.example.com/souk", strict).is_ok());
        assert_eq!(
            check_target("http://hooks.example.com/", strict),
            Err(TargetError::NotHttps)
        );
        for private in [
            "https://127.0.0.1/",
            "https://[::1]:8443/x",
            "https://localhost/",
            "https://api.localhost/",
            "https://10.0.0.5/",
            "https://169.254.169.254/latest/meta-data",
            "https://metadata.google.internal/",
        ] {
            assert_eq!(
                check_target(private, strict),
                Err(TargetError::Private),
                "{private}"
            );
        }
        assert_eq!(
            check_target("https://u:p@hooks.example.com/", strict),
            Err(TargetError::Credentials)
        );
        assert_eq!(
            check_target("ftp://hooks.example.com/", strict),
            Err(TargetError::NotUrl)
        );
        assert_eq!(check_target("not a url", strict), Err(TargetError::NotUrl));
        let open = TargetPolicy {
            allow_http: true,
            allow_private: true,
        };
        assert!(check_target("http://127.0.0.1:9000/hook", open).is_ok());
    }
}
