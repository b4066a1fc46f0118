//! Makes sure the topic exists before a run. mqbench never creates a topic
//! behind the user's back (a typo would silently benchmark a new topic);
//! `--create-topic QUEUES` asks for it explicitly, which scripts want.

use std::time::Duration;

use anyhow::{bail, Context};
use ferromq_client::{AdminClient, ClientError, MqClient, PERM_READ_WRITE};
use tokio::time::Instant;

use super::args::Common;

/// How long a created topic may take to show up in the NameServer's route.
const ROUTE_WAIT: Duration = Duration::from_secs(10);

/// Returns the number of write queues of the topic, creating it first if
/// `--create-topic` was given and it does not exist.
///
/// # Errors
/// A missing topic without `--create-topic` (the message says how to create
/// it), NameServer or broker failures.
pub async fn ensure(client: &MqClient, c: &Common) -> anyhow::Result<usize> {
    let t = &c.topic;
    match client.refresh_route(t).await {
        Ok(route) if !route.write_queues().is_empty() => return Ok(route.write_queues().len()),
        Ok(_) | Err(ClientError::NoRoute(_)) => {}
        Err(e) => return Err(e).context(format!("looking up the route of topic {t}")),
    }
    let Some(queues) = c.create_topic else {
        bail!(
            "topic {t} does not exist (or has no writable queue): create it with \
             `mqadmin updateTopic -t {t} -c {} -r 8 -w 8`, or pass --create-topic QUEUES",
            c.cluster
        );
    };
    AdminClient::new(client.clone())
        .create_topic(&c.cluster, t, queues, queues, PERM_READ_WRITE)
        .await
        .with_context(|| format!("creating topic {t} on cluster {}", c.cluster))?;
    // The brokers announce the topic to the NameServers; wait until the
    // route has it, so the first sends do not fail with "no route".
    let deadline = Instant::now() + ROUTE_WAIT;
    loop {
        match client.refresh_route(t).await {
            Ok(route) if route.write_queues().len() >= queues as usize => {
                return Ok(route.write_queues().len())
            }
            Ok(_) | Err(ClientError::NoRoute(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(_) | Err(ClientError::NoRoute(_)) => {
                bail!("topic {t} was created but its route did not appear within {ROUTE_WAIT:?}")
            }
            Err(e) => return Err(e).context(format!("looking up the route of topic {t}")),
        }
    }
}
