//! Delivering webhook messages: one signed POST per attempt (Standard Webhooks headers), the
//! attempt logged, retries left to the job queue's exponential backoff with jitter.
//!
//! A slow or dead endpoint must not hold up the others: each attempt has a time limit, and one
//! process sends at most [`PER_ENDPOINT_IN_FLIGHT`] messages to an endpoint at once — further
//! messages for it step aside (deferred, without using an attempt) so other jobs get the slots.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use souk_domain::webhooks::{
    TargetPolicy, check_target, endpoint_key, ip_is_public, literal_ip, message_header_id, sign,
};
use souk_storage::webhooks::{self as store, AfterAttempt, AttemptRecord, Endpoint};
use souk_storage::{Db, now_ms};
use uuid::Uuid;

use crate::JobError;

/// Messages one process sends to one endpoint at once.
pub const PER_ENDPOINT_IN_FLIGHT: usize = 2;
/// Bytes of a receiver's response kept in the delivery log.
const SNIPPET_BYTES: usize = 1024;

#[derive(Clone)]
pub struct WebhookConfig {
    /// The server key endpoint secrets are derived from.
    pub server_key: Arc<[u8]>,
    pub policy: TargetPolicy,
    /// Time limit of one attempt (connect, send, response).
    pub timeout: Duration,
    /// An endpoint whose every delivery failed for this long is disabled.
    pub disable_after: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("server_key", &"<redacted>")
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("disable_after", &self.disable_after)
            .finish_non_exhaustive()
    }
}

/// Resolves names like the system does, then drops every address Souk must not call (unless
/// private targets are allowed): a name that points at the internal network, or is re-pointed
/// there after the endpoint was checked, reaches nothing.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || ip_is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sends webhook messages; one per process.
pub struct WebhookSender {
    config: WebhookConfig,
    http: reqwest::Client,
    in_flight: Mutex<HashMap<Uuid, usize>>,
    /// Each endpoint's recent attempt duration (ms, moving average): how fast it drains.
    latency_ms: Mutex<HashMap<Uuid, f64>>,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Releases an endpoint slot when the attempt ends, however it ends.
struct Slot<'a> {
    sender: &'a WebhookSender,
    endpoint: Uuid,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut map = self
            .sender
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.endpoint) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.endpoint);
            }
        }
    }
}

impl WebhookSender {
    pub fn new(config: WebhookConfig) -> Result<Self, String> {
        let http = souk_payments::https_client_builder()?
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.policy.allow_private,
            }))
            // A redirect could lead anywhere (including the internal network): not followed,
            // and a 3xx counts as a failure.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .timeout(config.timeout)
            .pool_max_idle_per_host(2)
            .user_agent(concat!("Souk-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(WebhookSender {
            config,
            http,
            in_flight: Mutex::new(HashMap::new()),
            latency_ms: Mutex::new(HashMap::new()),
        })
    }

    fn note_latency(&self, endpoint: Uuid, ms: i64) {
        let mut map = self.latency_ms.lock().unwrap_or_else(|e| e.into_inner());
        let avg = map.entry(endpoint).or_insert(ms as f64);
        *avg = 0.8 * *avg + 0.2 * ms as f64;
    }

    /// How long a delivery that found its endpoint busy steps aside: about half the time the
    /// endpoint needs to work through the messages waiting for it at its pace (2 at a time),
    /// at least 0.5 s (5 s if it is failing), at most 5 minutes, with jitter. So a slow
    /// endpoint's backlog of a thousand is claimed a few times a minute, not every second,
    /// while returning jobs still find the endpoint's slots busy, not idle.
    async fn step_aside(&self, db: &Db, endpoint: &Endpoint) -> Duration {
        let backlog = store::pending_count(db, endpoint.id)
            .await
            .unwrap_or(1)
            .max(1) as f64;
        let pace = self
            .latency_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&endpoint.id)
            .copied()
            .unwrap_or(1000.0);
        let floor = if endpoint.failing_since.is_some() {
            5000.0
        } else {
            500.0
        };
        let drain =
            (backlog * pace / (2.0 * PER_ENDPOINT_IN_FLIGHT as f64)).clamp(floor, 300_000.0);
        let jitter = 0.5 + (Uuid::new_v4().as_u128() % 1000) as f64 / 2000.0;
        Duration::from_millis((drain * jitter).max(floor / 2.0) as u64)
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    fn take_slot(&self, endpoint: Uuid) -> Option<Slot<'_>> {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(endpoint).or_insert(0);
        if *n >= PER_ENDPOINT_IN_FLIGHT {
            return None;
        }
        *n += 1;
        Some(Slot {
            sender: self,
            endpoint,
        })
    }

    /// Runs one delivery job. `last` is true when the queue will not run it again.
    pub async fn run_job(&self, db: &Db, payload: &str, last: bool) -> Result<(), JobError> {
        let job: souk_app::jobs::DeliveryJob = serde_json::from_str(payload)
            .map_err(|e| JobError::Permanent(format!("bad webhook payload: {e}")))?;
        let Some((message, endpoint)) = store::message_for_delivery(db, job.message_id)
            .await
            .map_err(retry)?
        else {
            return Ok(()); // The endpoint was deleted: nothing to send.
        };
        if message.status != "pending" {
            return Ok(()); // Already delivered (a job that ran twice) or given up.
        }
        // A disabled endpoint, or one of a vendor suspended since the message was queued: held
        // back (`skipped`), recoverable once it is enabled or the vendor reinstated.
        if !endpoint.enabled() || store::owner_suspended(db, &endpoint).await.map_err(retry)? {
            store::skip(db, message.id).await.map_err(retry)?;
            return Ok(());
        }
        let Some(_slot) = self.take_slot(endpoint.id) else {
            return Err(JobError::Defer(self.step_aside(db, &endpoint).await));
        };
        let started = Instant::now();
        let result = self
            .post(
                &endpoint.url,
                endpoint.id,
                endpoint.secret_version,
                &message,
            )
            .await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.note_latency(endpoint.id, latency_ms);
        let (status_code, error, snippet, delivered) = match result {
            Ok((code, snippet)) => {
                let ok = (200..300).contains(&code);
                (
                    Some(i64::from(code)),
                    (!ok).then(|| format!("HTTP {code}")),
                    Some(snippet),
                    ok,
                )
            }
            Err(e) => (None, Some(e), None, false),
        };
        let record = AttemptRecord {
            message_id: message.id,
            endpoint_id: endpoint.id,
            status_code,
            error: error.clone(),
            response_snippet: snippet,
            latency_ms,
            delivered,
            last,
        };
        let disable_after_ms =
            i64::try_from(self.config.disable_after.as_millis()).unwrap_or(i64::MAX);
        let after = souk_app::webhooks::record_delivery(db, &endpoint, &record, disable_after_ms)
            .await
            .map_err(retry)?;
        metrics::counter!("souk_webhook_attempts_total", "outcome" => if delivered { "delivered" } else { "failed" })
            .increment(1);
        match after {
            AfterAttempt::Delivered => Ok(()),
            AfterAttempt::EndpointDisabled => {
                tracing::warn!(endpoint = %endpoint.id, "webhook endpoint disabled after failing too long");
                Ok(())
            }
            AfterAttempt::GaveUp => {
                // The message is marked failed (its owner can redeliver it); the job is done.
                tracing::warn!(endpoint = %endpoint.id, message = %message.id, "webhook message given up");
                Ok(())
            }
            AfterAttempt::WillRetry => Err(JobError::Retryable(format!(
                "webhook to endpoint {}: {}",
                endpoint.id,
                error.unwrap_or_default()
            ))),
        }
    }

    /// One signed POST; the status and the start of the response body, or why there is none.
    async fn post(
        &self,
        url: &str,
        endpoint_id: Uuid,
        secret_version: i64,
        message: &store::Message,
    ) -> Result<(u16, String), String> {
        // The URL was checked when saved; check again, as the policy may have been tightened.
        let url = check_target(url, self.config.policy).map_err(|e| format!("URL {e}"))?;
        if let Some(ip) = literal_ip(&url)
            && !self.config.policy.allow_private
            && !ip_is_public(ip)
        {
            return Err("URL must not point at a private address".to_owned());
        }
        let key = endpoint_key(&self.config.server_key, endpoint_id, secret_version);
        let id = message_header_id(message.id);
        let timestamp = now_ms() / 1000;
        let signature = sign(&key, &id, timestamp, message.payload.as_bytes());
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.payload.clone())
            .send()
            .await
            .map_err(describe)?;
        let code = response.status().as_u16();
        let mut snippet = Vec::new();
        let mut response = response;
        // Read at most the snippet: a receiver answering with a huge body costs nothing.
        while snippet.len() < SNIPPET_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                _ => break,
            }
        }
        snippet.truncate(SNIPPET_BYTES);
        Ok((code, String::from_utf8_lossy(&snippet).into_owned()))
    }
}

fn describe(e: reqwest::Error) -> String {
    use std::error::Error as _;
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

fn retry(e: souk_storage::StorageError) -> JobError {
    JobError::Retryable(e.to_string())
}

#[cfg(test)]
mod tests {
    use reqwest::dns::Resolve;

    use super::*;

    #[tokio::test]
    async fn names_resolving_to_private_addresses_reach_nothing_unless_allowed() {
        let strict = GuardedResolver {
            allow_private: false,
        };
        let refused = strict.resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err(), "localhost must not resolve for delivery");
        let open = GuardedResolver {
            allow_private: true,
        };
        let found: Vec<SocketAddr> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(found.iter().any(|a| a.ip().is_loopback()), "{found:?}");
    }
}
