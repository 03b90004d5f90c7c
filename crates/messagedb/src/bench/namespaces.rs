//! `many-namespaces`: the load of a server holding far more namespaces than it keeps open.
//!
//! Before the clock starts, the run creates `--namespaces N` namespaces with the admin token
//! (`ns.create`, [`PARALLEL`] at a time), named `bench-ns-<run tag>-<i>` so repeated runs never
//! collide, and keeps each one's token. The workers then share one counter of *visits*: visit
//! `v` goes to namespace `v mod N` and is a `stream.write` to that namespace's stream
//! [`STREAM`] followed by a `stream.get` of it (10 messages from position 0), both authenticated
//! with the namespace's own token on the worker's one connection. So each pass over the
//! counter visits every namespace exactly once, in order, and the write is the first request to
//! its namespace since the previous pass; with N much larger than the server's
//! `--max-open-namespaces`, that namespace has been closed in between (least recently used), so
//! the write measures a request to a closed namespace, and is also recorded as such
//! ([`Recorder::record_first_request`]). After the window the namespaces are deleted, unless
//! `--keep-namespaces`; creating and deleting are timed but are not part of the measured load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use futures::StreamExt;
use messagedb_client::{Bearer, Client, ClientError, Connection, CreateNamespaceOptions};

use super::recorder::{Outcome, Recorder};
use super::workload::{timed, unix_nanos, write_body, Clock, Payload};

/// `ns.create` / `ns.delete` calls in flight at once: enough to keep a server's registry writer
/// busy, few enough not to queue behind each other for long.
pub const PARALLEL: usize = 16;

/// The stream each namespace is written and read on.
pub const STREAM: &str = "bench_ns-1";

/// One namespace of the run, with its token.
#[derive(Debug)]
pub struct Tenant {
    pub id: String,
    pub bearer: Bearer,
}

/// The run's namespaces and the visit counter the workers share.
#[derive(Debug)]
pub struct Tenants {
    pub list: Vec<Tenant>,
    next_visit: AtomicU64,
}

impl Tenants {
    pub fn new(list: Vec<Tenant>) -> Tenants {
        Tenants {
            list,
            next_visit: AtomicU64::new(0),
        }
    }

    /// The namespace of the next visit, round-robin over all of them.
    fn next(&self) -> &Tenant {
        let visit = self.next_visit.fetch_add(1, Ordering::Relaxed);
        &self.list[(visit % self.list.len() as u64) as usize]
    }
}

/// The admin's client for creating and deleting: a pool that keeps [`PARALLEL`] connections, so
/// the calls in flight do not reconnect each time.
pub fn admin_client(url: &str, token: Option<&str>) -> anyhow::Result<Client> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(PARALLEL)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    Ok(Client::with_http_client(http, url, token)?)
}

/// The name of namespace `index` of the run tagged `tag`.
pub fn namespace_id(tag: &str, index: u32) -> String {
    format!("bench-ns-{tag}-{index}")
}

/// Fails with a readable message unless `admin` is an admin token (one of `default`): `ns.info`
/// of `default` is allowed to admins only, and costs nothing whatever the number of namespaces.
pub async fn check_admin(admin: &Client) -> anyhow::Result<()> {
    match admin.ns_info("default").await {
        Ok(_) => Ok(()),
        Err(error) if matches!(error.status(), Some(401 | 403)) => bail!(
            "--workload many-namespaces creates and deletes namespaces, so it needs the admin \
             token (a token of the `default` namespace) in --token; the server refused it: {error}"
        ),
        Err(error) => Err(error).context("cannot check the token (ns.info default)"),
    }
}

/// Creates namespaces `0..count` of the run tagged `tag`. On a failure, deletes the ones it
/// created before returning the error, so a failed run leaves nothing behind.
pub async fn create(admin: &Client, tag: &str, count: u32) -> anyhow::Result<Vec<Tenant>> {
    let mut calls = futures::stream::iter(0..count)
        .map(|index| async move {
            let id = namespace_id(tag, index);
            let created = admin
                .ns_create(&id, &CreateNamespaceOptions::default())
                .await
                .with_context(|| format!("cannot create namespace {id} (ns.create)"))?;
            let bearer = Bearer::new(&created.token).context("ns.create returned a bad token")?;
            anyhow::Ok((index, Tenant { id, bearer }))
        })
        .buffer_unordered(PARALLEL);
    let mut created = Vec::with_capacity(count as usize);
    let mut failure = None;
    while let Some(result) = calls.next().await {
        match result {
            Ok(tenant) => created.push(tenant),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    // Let the calls in flight finish, so every namespace that exists is in `created`.
    if failure.is_some() {
        while let Some(result) = calls.next().await {
            if let Ok(tenant) = result {
                created.push(tenant);
            }
        }
    }
    drop(calls);
    created.sort_by_key(|(index, _)| *index);
    let tenants: Vec<Tenant> = created.into_iter().map(|(_, tenant)| tenant).collect();
    if let Some(error) = failure {
        if let Err(cleanup) = delete(admin, &tenants).await {
            eprintln!("messagedb bench: {cleanup:#}");
        }
        return Err(error);
    }
    Ok(tenants)
}

/// Deletes the run's namespaces; every deletion is attempted, and the first failure is returned.
pub async fn delete(admin: &Client, tenants: &[Tenant]) -> anyhow::Result<()> {
    let results: Vec<Result<(), (String, ClientError)>> = futures::stream::iter(tenants)
        .map(|tenant| async move {
            admin
                .ns_delete(&tenant.id)
                .await
                .map(|_| ())
                .map_err(|error| (tenant.id.clone(), error))
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let failed: Vec<(String, ClientError)> = results.into_iter().filter_map(Result::err).collect();
    match failed.into_iter().next() {
        None => Ok(()),
        Some((id, error)) => {
            Err(error).with_context(|| format!("cannot delete namespace {id} (ns.delete)"))
        }
    }
}

/// One worker's loop: visits until the deadline (see the module documentation).
pub async fn run_worker(
    conn: &mut Connection,
    tenants: &Tenants,
    payload: Payload,
    clock: &Clock,
    rec: &mut Recorder,
) {
    let mut body = String::with_capacity(512);
    let read = format!(r#"["stream.get","{STREAM}",{{"position":0,"batchSize":10}}]"#);
    while !clock.over() {
        let tenant = tenants.next();
        write_body(&mut body, STREAM, payload, None, unix_nanos());
        let started = Instant::now();
        let written = conn
            .call_body_as(body.clone().into_bytes(), &tenant.bearer)
            .await;
        if started >= clock.window_start {
            let latency = started.elapsed();
            let outcome = Outcome::of(&written);
            if outcome == Outcome::Ok {
                rec.record_first_request(latency);
            }
            rec.record("stream.write", latency, outcome);
        }
        let _ = timed(
            rec,
            clock,
            "stream.get",
            conn.call_body_as(read.clone().into_bytes(), &tenant.bearer),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_namespace_ids_unique_per_run() {
        let id = namespace_id("1a2b3cr1", 9999);
        assert_eq!(id, "bench-ns-1a2b3cr1-9999");
        // SPEC §6.8: [A-Za-z0-9][A-Za-z0-9._-]{0,127}.
        assert!(id.len() <= 128);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
        assert_ne!(namespace_id("a", 1), namespace_id("b", 1));
    }

    #[test]
    fn visits_go_round_robin_over_every_namespace() {
        let tenants = Tenants::new(
            (0..3)
                .map(|i| Tenant {
                    id: format!("ns-{i}"),
                    bearer: Bearer::new("t").unwrap(),
                })
                .collect(),
        );
        let ids: Vec<&str> = (0..7).map(|_| tenants.next().id.as_str()).collect();
        assert_eq!(
            ids,
            ["ns-0", "ns-1", "ns-2", "ns-0", "ns-1", "ns-2", "ns-0"]
        );
    }
}
