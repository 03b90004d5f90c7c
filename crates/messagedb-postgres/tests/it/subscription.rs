//! A `/subscribe` client for the multi-instance tests: opens a subscription on one instance and
//! reads its event blocks one by one.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::servers::Instance;

/// How long one expected event may take.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A `/subscribe` response, read event block by event block.
pub struct Subscription {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Subscription {
    pub async fn open(client: &reqwest::Client, to: &Instance, query: &str) -> Subscription {
        let response = client
            .get(to.url(&format!("/subscribe?{query}")))
            .send()
            .await
            .expect("subscribe");
        assert_eq!(response.status(), 200);
        let mut subscription = Subscription {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        };
        assert_eq!(subscription.next().await.as_deref(), Some(": ready"));
        subscription
    }

    /// The next event block other than a keepalive, or `None` when the response has ended.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                if block == ": keepalive" {
                    continue;
                }
                return Some(block);
            }
            let chunk = tokio::time::timeout(PATIENCE, self.body.next())
                .await
                .expect("an event within the patience")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.expect("body chunk")).expect("UTF-8"));
        }
    }

    /// The next poke's data.
    pub async fn poke(&mut self) -> Value {
        let block = self.next().await.expect("a poke, not the end");
        let data = block
            .strip_prefix("event: poke\ndata: ")
            .unwrap_or_else(|| panic!("not a poke: {block:?}"));
        serde_json::from_str(data).expect("poke JSON")
    }

    /// The next poke's global position.
    pub async fn poke_gpos(&mut self) -> i64 {
        self.poke().await["globalPosition"]
            .as_i64()
            .expect("globalPosition")
    }
}
