//! Which hosts a load test may hit: loopback only, unless the operator says they own the host.

use std::net::IpAddr;

/// The checked base URL (no trailing slash).
#[derive(Debug, Clone)]
pub struct Target {
    pub base: String,
}

/// Parses `url` and refuses anything but http(s) on a loopback address (a literal loopback IP,
/// `localhost`, or a name that resolves only to loopback), unless `owned` is set.
pub async fn check(url: &str, owned: bool) -> Result<Target, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?}: only http:// and https:// URLs"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{url:?} names no host"))?
        .to_owned();
    let target = Target {
        base: url.trim_end_matches('/').to_owned(),
    };
    if owned {
        return Ok(target);
    }
    let refuse = |why: &str| {
        Err(format!(
            "refusing to load-test {host}: {why}. A load test creates real load and real orders; \
             pass --i-own-this-host if this is your own shop"
        ))
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if ip.is_loopback() {
            Ok(target)
        } else {
            refuse("not a loopback address")
        };
    }
    if bare.eq_ignore_ascii_case("localhost") || bare.to_ascii_lowercase().ends_with(".localhost") {
        return Ok(target);
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addresses: Vec<IpAddr> = match tokio::net::lookup_host((bare, port)).await {
        Ok(found) => found.map(|a| a.ip()).collect(),
        Err(_) => return refuse("the name does not resolve here"),
    };
    if !addresses.is_empty() && addresses.iter().all(IpAddr::is_loopback) {
        Ok(target)
    } else {
        refuse("it resolves to addresses that are not loopback")
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[tokio::test]
    async fn only_loopback_targets_pass_without_the_owner_flag() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9/",
            "http://[::1]:8080",
            "http://localhost:3000",
            "https://shop.localhost",
        ] {
            assert!(check(ok, false).await.is_ok(), "{ok}");
        }
        for refused in [
            "http://192.0.2.1:8080",
            "http://[2001:db8::1]/",
            "http://10.0.0.1",
        ] {
            let why = check(refused, false).await.unwrap_err();
            assert!(why.contains("--i-own-this-host"), "{why}");
            assert!(check(refused, true).await.is_ok(), "{refused}");
        }
        assert!(check("ftp://127.0.0.1/", true).await.is_err());
        assert!(check("not a url", true).await.is_err());
        assert_eq!(
            check("http://127.0.0.1:8080/", false).await.unwrap().base,
            "http://127.0.0.1:8080"
        );
    }
}
