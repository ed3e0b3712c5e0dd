//! The database client thread: connects, serves the lookups the cache misses, listens for the
//! changes the triggers announce, sends the heartbeat, and reconnects with backoff when the
//! connection is lost (see the parent module for what it guarantees).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{
    CHANNEL, Key, Link, Lookup, NAMESPACE_TYPE, PgConfig, Shared, Unavailable, changed, contact,
    describe, start_over,
};

/// How often an idle connection is checked: four times per staleness bound, so a healthy
/// connection is never stale.
fn heartbeat_every(config: &PgConfig) -> Duration {
    (config.staleness / 4).clamp(Duration::from_millis(20), Duration::from_secs(10))
}

/// The connection's driver, stopped when the session ends (a silent server would otherwise keep
/// it waiting forever).
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(serde::Deserialize)]
struct Announced {
    #[serde(rename = "type")]
    type_name: String,
    id: String,
}

/// Connects, serves lookups and listens for changes; reconnects with backoff when the
/// connection is lost; ends when the [`Database`] is dropped.
pub(super) async fn client_loop(
    shared: Arc<Shared>,
    mut requests: mpsc::UnboundedReceiver<Lookup>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match session(&shared, &mut requests, &mut backoff).await {
            Ok(()) => return,
            Err(why) => {
                shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                {
                    let mut inner = shared.lock();
                    tracing::warn!(
                        "registry database out of reach (retrying in {backoff:?}): {why}"
                    );
                    inner.link = Link::Down { why };
                }
                shared.linked.notify_all();
            }
        }
        // Lookups sent just before the link went down get their answer now.
        let pause = tokio::time::sleep(backoff);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                () = &mut pause => break,
                request = requests.recv() => match request {
                    Some(request) => {
                        let _ = request.reply.send(Err(Unavailable::OutOfReach));
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's life: `Ok` when the [`Database`] was dropped, `Err` why it was lost.
async fn session(
    shared: &Arc<Shared>,
    requests: &mut mpsc::UnboundedReceiver<Lookup>,
    backoff: &mut Duration,
) -> Result<(), String> {
    let config = &shared.config;
    // A server that accepts and never answers must not hold the client here: connecting (and
    // reading the namespaces) is bounded.
    let setup = config.staleness.max(config.lookup_timeout);
    let (client, select, namespaces, _driver, mut announced) =
        tokio::time::timeout(setup, connect(config))
            .await
            .map_err(|_| {
                format!("the registry database did not complete a connection within {setup:?}")
            })??;
    {
        let mut inner = shared.lock();
        // Changes made while we were not listening were not announced: start over.
        start_over(&mut inner, &shared.counters);
        inner.namespaces = namespaces;
        inner.link = Link::Up;
        inner.connections += 1;
        inner.last_contact = Some(Instant::now());
    }
    shared.linked.notify_all();
    *backoff = Duration::from_millis(100);
    tracing::info!("registry database connected, listening on `{CHANNEL}`");
    let client = Arc::new(client);
    let mut heartbeat = tokio::time::interval(heartbeat_every(config));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Heartbeats run beside the lookups (a slow one never delays a lookup) and report here why
    // one failed.
    let (beats, mut beat_failed) = mpsc::unbounded_channel::<String>();
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return Ok(()) };
                let client = client.clone();
                let select = select.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let answer = client
                        .query_opt(&select, &[&request.key.type_name(), &request.key.id()])
                        .await
                        .map_err(|e| describe(&e))
                        .and_then(|row| match row {
                            None => Ok(None),
                            Some(row) => row.try_get::<_, String>(0).map(Some).map_err(|e| describe(&e)),
                        });
                    if answer.is_ok() {
                        contact(&shared);
                    }
                    let _ = request.reply.send(answer.map_err(|why| Unavailable::Query { why }));
                });
            }
            _ = heartbeat.tick() => {
                let client = client.clone();
                let shared = shared.clone();
                let beats = beats.clone();
                let timeout = config.lookup_timeout;
                tokio::spawn(async move {
                    let failed = match tokio::time::timeout(timeout, client.simple_query("")).await {
                        Ok(Ok(_)) => return contact(&shared),
                        Ok(Err(e)) => describe(&e),
                        Err(_) => format!(
                            "the registry database did not answer a heartbeat within {timeout:?}"
                        ),
                    };
                    let _ = beats.send(failed);
                });
            }
            Some(why) = beat_failed.recv() => return Err(why),
            note = announced.recv() => match note {
                Some(Ok(payload)) => {
                    contact(shared);
                    tokio::time::timeout(config.lookup_timeout, announce(shared, &client, &payload))
                        .await
                        .map_err(|_| format!(
                            "the registry database did not answer within {:?} while applying a change",
                            config.lookup_timeout
                        ))??;
                }
                Some(Err(why)) => return Err(why),
                None => return Err("the connection was closed".to_owned()),
            },
        }
    }
}

type Connected = (
    tokio_postgres::Client,
    tokio_postgres::Statement,
    HashMap<Box<str>, Box<str>>,
    Driver,
    mpsc::UnboundedReceiver<Result<String, String>>,
);

/// Connects, listens for changes, prepares the lookup and reads the namespaces.
async fn connect(config: &PgConfig) -> Result<Connected, String> {
    use futures_util::StreamExt as _;
    let (client, mut connection) = tokio_postgres::connect(&config.url, tokio_postgres::NoTls)
        .await
        .map_err(|e| describe(&e))?;
    let (notes, announced) = mpsc::unbounded_channel::<Result<String, String>>();
    let driver = Driver(tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    let _ = notes.send(Ok(n.payload().to_owned()));
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = notes.send(Err(describe(&e)));
                    return;
                }
            }
        }
        let _ = notes.send(Err("the connection was closed".to_owned()));
    }));
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| describe(&e))?;
    let select = client
        .prepare("SELECT entity::text FROM yungui_registry WHERE uid_type = $1 AND uid_id = $2")
        .await
        .map_err(|e| describe(&e))?;
    let namespaces = load_namespaces(&client).await?;
    Ok((client, select, namespaces, driver, announced))
}

/// Applies one announcement: `*` drops everything, else the entity named is evicted (and a
/// namespace's tenant read again).
async fn announce(
    shared: &Shared,
    client: &tokio_postgres::Client,
    payload: &str,
) -> Result<(), String> {
    if payload == "*" {
        let namespaces = load_namespaces(client).await?;
        let mut inner = shared.lock();
        start_over(&mut inner, &shared.counters);
        inner.namespaces = namespaces;
        return Ok(());
    }
    let Ok(Announced { type_name, id }) = serde_json::from_str(payload) else {
        // Not ours to read: drop everything rather than miss a change.
        shared.counters.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("unreadable registry change announcement `{payload}`: dropping the cache");
        let mut inner = shared.lock();
        start_over(&mut inner, &shared.counters);
        return Ok(());
    };
    let key = Key::new(&type_name, &id);
    let tenant = if type_name == NAMESPACE_TYPE {
        Some(namespace_row(client, &id).await?)
    } else {
        None
    };
    let mut inner = shared.lock();
    if let Some(tenant) = tenant {
        match tenant {
            Some(tenant) => inner.namespaces.insert(id.into(), tenant),
            None => inner.namespaces.remove(id.as_str()),
        };
    }
    changed(&mut inner, &shared.counters, key);
    Ok(())
}

/// A namespace that names no single tenant maps to no tenant at all (an empty id no registry
/// holds): its decisions are denied as missing from the registry, never made for a tenant
/// named like the namespace.
const NO_TENANT: &str = "";

async fn load_namespaces(
    client: &tokio_postgres::Client,
) -> Result<HashMap<Box<str>, Box<str>>, String> {
    let rows = client
        .query(
            "SELECT uid_id, entity::text FROM yungui_registry WHERE uid_type = $1",
            &[&NAMESPACE_TYPE],
        )
        .await
        .map_err(|e| describe(&e))?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0).map_err(|e| describe(&e))?;
        let text: String = row.try_get(1).map_err(|e| describe(&e))?;
        out.insert(id.clone().into(), namespace_tenant(&id, &text));
    }
    Ok(out)
}

async fn namespace_row(
    client: &tokio_postgres::Client,
    id: &str,
) -> Result<Option<Box<str>>, String> {
    let row = client
        .query_opt(
            "SELECT entity::text FROM yungui_registry WHERE uid_type = $1 AND uid_id = $2",
            &[&NAMESPACE_TYPE, &id],
        )
        .await
        .map_err(|e| describe(&e))?;
    match row {
        None => Ok(None),
        Some(row) => {
            let text: String = row.try_get(0).map_err(|e| describe(&e))?;
            Ok(Some(namespace_tenant(id, &text)))
        }
    }
}

fn namespace_tenant(id: &str, text: &str) -> Box<str> {
    let key = Key::new(NAMESPACE_TYPE, id);
    match RawValue::from_string(text.to_owned())
        .map_err(|e| e.to_string())
        .and_then(|raw| crate::registry::namespace_tenant(&key, &raw).map_err(|e| e.to_string()))
    {
        Ok(tenant) => tenant,
        Err(why) => {
            tracing::warn!("registry database: {why}; the namespace maps to no tenant");
            NO_TENANT.into()
        }
    }
}
