//! Bootstrap of the `default` namespace across restarts, test mode and the data-directory lock
//! (SPEC §4.6, §4.7, §10.4; checklist D26–D28, D34, D35).

use messagedb_client::{Client, NewMessage, StreamOptions};

use crate::support::{Launch, ADMIN};

/// The token printed in the `DEFAULT NAMESPACE TOKEN:` block, if there is one.
fn printed_token(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|line| *line == "DEFAULT NAMESPACE TOKEN:")?;
    assert!(at >= 1 && lines[at - 1].chars().all(|c| c == '=') && !lines[at - 1].is_empty());
    assert!(lines[at + 2].chars().all(|c| c == '=') && !lines[at + 2].is_empty());
    Some(lines[at + 1].to_owned())
}

/// Whether `client` is accepted as admin (`ns.list` is admin-only).
async fn admin_status(client: &Client) -> Result<(), u16> {
    client.ns_list().await.map(|_| ()).map_err(|err| {
        err.status()
            .unwrap_or_else(|| panic!("no HTTP status: {err}"))
    })
}

/// D26, D27, D28.
#[tokio::test]
async fn default_token_is_generated_kept_and_rotated() {
    let dir = tempfile::tempdir().unwrap();

    // D26: the first start prints a generated token, once, and it works as admin.
    let server = Launch::serve(dir.path(), &[] as &[&str]).start().unwrap();
    let generated = printed_token(&server.stderr()).expect("a printed token");
    assert!(generated.starts_with("ns_ZGVmYXVsdA_"), "{generated}");
    admin_status(&server.client(Some(&generated)))
        .await
        .unwrap();
    let exited = server.stop();
    let mentions = exited
        .stderr
        .lines()
        .filter(|l| l.contains(&generated))
        .count();
    assert_eq!(mentions, 1, "the token appears only in the bootstrap block");

    // D27: a restart without --token prints nothing and keeps the token.
    let server = Launch::serve(dir.path(), &[] as &[&str]).start().unwrap();
    assert_eq!(printed_token(&server.stderr()), None, "{}", server.stderr());
    admin_status(&server.client(Some(&generated)))
        .await
        .unwrap();
    server.stop();

    // D28: a restart with another --token rotates: the new one works, the old one gets 403.
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    assert_eq!(printed_token(&server.stderr()), None);
    admin_status(&server.client(Some(ADMIN))).await.unwrap();
    assert_eq!(
        admin_status(&server.client(Some(&generated))).await,
        Err(403)
    );
    server.stop();

    // And the rotation is durable.
    let server = Launch::serve(dir.path(), &[] as &[&str]).start().unwrap();
    admin_status(&server.client(Some(ADMIN))).await.unwrap();
    assert_eq!(
        admin_status(&server.client(Some(&generated))).await,
        Err(403)
    );
    server.stop();
}

/// D34: test-mode data lives in memory only, and the data directory is not touched.
#[tokio::test]
async fn test_mode_data_does_not_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let args = ["--test-mode", "--token", ADMIN];

    let server = Launch::serve(&data_dir, &args).start().unwrap();
    let client = server.client(Some(ADMIN));
    let message = NewMessage::from_json_text("Written", r#"{"n":1}"#).unwrap();
    client.write_message("memory-1", &message).await.unwrap();
    assert_eq!(client.stream_version("memory-1").await.unwrap(), Some(0));
    // Anonymous callers act as admin in test mode.
    let anonymous = server.client(None);
    assert_eq!(anonymous.stream_version("memory-1").await.unwrap(), Some(0));
    let exited = server.stop();
    assert!(exited.stderr.contains("Test mode"), "{}", exited.stderr);

    let server = Launch::serve(&data_dir, &args).start().unwrap();
    let client = server.client(Some(ADMIN));
    assert_eq!(client.stream_version("memory-1").await.unwrap(), None);
    let messages = client
        .get_stream("memory-1", &StreamOptions::default())
        .await
        .unwrap();
    assert!(messages.is_empty());
    server.stop();
    assert!(!data_dir.exists(), "test mode created the data directory");
}

/// D35: a second process on the same data directory fails to start, and the first keeps working.
#[tokio::test]
async fn second_process_on_the_same_data_dir_fails() {
    let dir = tempfile::tempdir().unwrap();
    let first = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    let exited = Launch::serve(dir.path(), &["--token", ADMIN]).start_failure();
    assert_eq!(exited.status.code(), Some(1));
    assert!(
        exited
            .stderr
            .contains("is in use by another messagedb process"),
        "{}",
        exited.stderr
    );
    admin_status(&first.client(Some(ADMIN))).await.unwrap();
    first.stop();
    // Once the first has stopped, the directory is free again.
    let again = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    again.stop();
}
