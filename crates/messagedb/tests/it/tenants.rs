//! Many tenants on one node (SPEC §16.3, checklist 142), through the real binary: with
//! `--max-open-namespaces 8`, 200 namespaces written and read concurrently give no error, and the
//! server's thread count and open descriptors do not grow with the number of namespaces.

use messagedb_client::{Client, CreateNamespaceOptions, NewMessage, StreamOptions};
use tokio::task::JoinSet;

use crate::support::{Launch, Server, ADMIN};

/// `Threads:` of `/proc/<pid>/status`.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads line")
}

/// Entries of `/proc/<pid>/fd` that are not sockets (each test client holds its own
/// connections, which say nothing about the namespaces).
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| !target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Creates namespaces `tenant-<from>`..`tenant-<to>` and returns a client for each.
async fn create(server: &Server, admin: &Client, from: usize, to: usize) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in from..to {
        let created = admin
            .ns_create(&format!("tenant-{i}"), &CreateNamespaceOptions::default())
            .await
            .unwrap();
        clients.push(server.client(Some(&created.token)));
    }
    clients
}

/// Every client writes one message and reads its stream back, all at once.
async fn write_and_read(clients: &[Client], expected_len: usize) {
    let mut tasks = JoinSet::new();
    for client in clients {
        let client = client.clone();
        tasks.spawn(async move {
            client
                .write_message(
                    "account-1",
                    &NewMessage::from_json_text("Opened", "{}").unwrap(),
                )
                .await?;
            client
                .get_stream("account-1", &StreamOptions::default())
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        let messages = result.unwrap().expect("no request fails");
        assert_eq!(messages.len(), expected_len);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_namespaces_with_eight_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(
        dir.path(),
        &[
            "--token",
            ADMIN,
            "--max-open-namespaces",
            "8",
            "--writer-threads",
            "2",
        ],
    )
    .start()
    .unwrap();
    let admin = server.client(Some(ADMIN));
    let pid = server.pid();

    let first = create(&server, &admin, 0, 20).await;
    write_and_read(&first, 1).await;
    let (threads_20, fds_20) = (threads(pid), descriptors(pid));

    let rest = create(&server, &admin, 20, 200).await;
    write_and_read(&rest, 1).await;
    let all: Vec<Client> = first.into_iter().chain(rest).collect();
    write_and_read(&all, 2).await;
    let (threads_200, fds_200) = (threads(pid), descriptors(pid));
    eprintln!("20 namespaces: {threads_20} threads, {fds_20} fds; 200: {threads_200} threads, {fds_200} fds");

    // Threads come from fixed pools; tokio's blocking pool may keep a few more idle ones, but
    // nowhere near one per namespace.
    assert!(
        threads_200 <= threads_20 + 8,
        "{threads_20} -> {threads_200}"
    );
    assert!(threads_200 <= 32, "{threads_200}");
    // Eight open namespaces at ~5 descriptors each, plus the registry, the logs, the runtime.
    assert!(fds_200 <= 8 * 5 + 32, "{fds_200}");
    assert!(fds_200 <= fds_20 + 8 * 5, "{fds_20} -> {fds_200}");
    let info = admin.ns_info("tenant-199").await.unwrap();
    assert_eq!(info.message_count, 2);
    server.stop();
}
