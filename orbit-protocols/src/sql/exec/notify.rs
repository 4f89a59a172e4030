//! LISTEN, UNLISTEN, NOTIFY and `pg_notify`: channels shared by the node's
//! SQL sessions, and the bridge to Redis pub/sub ([`crate::bus`]).
//!
//! As in PostgreSQL, what a transaction does here takes effect when it
//! commits: its NOTIFYs are delivered then (in order, one of several
//! identical ones), its LISTEN and UNLISTEN apply then, and a rollback
//! drops them all. A session receives notifications between transactions
//! (never inside a block) through its [`Mailbox`], which the connection
//! drains when it waits for the client. A NOTIFY also reaches Redis
//! subscribers of the channel, here and on the cluster's other nodes; a
//! Redis PUBLISH reaches the sessions LISTENing on the channel, with pid 0.
//!
//! In a cluster every PostgreSQL session runs on the node leading the SQL
//! data, so LISTEN and NOTIFY meet there; messages between Redis and SQL
//! cross nodes through the gateway's relay.

use super::*;
use crate::bus::{Bus, Door};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// PostgreSQL's limit on a payload's length, in bytes.
const MAX_PAYLOAD: usize = 7999;
/// Undelivered notifications a session keeps; past it, new ones are
/// dropped (and logged), as a session that never reads would otherwise
/// grow without bound.
const MAILBOX_LIMIT: usize = 65_536;

/// A notification as its listener receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notifying session's process id; 0 for a Redis PUBLISH.
    pub pid: i32,
    pub channel: String,
    pub payload: String,
}

/// One session's undelivered notifications.
#[derive(Debug, Default)]
pub struct Mailbox {
    queue: Mutex<VecDeque<Notification>>,
    arrived: tokio::sync::Notify,
    /// Inside a transaction block: delivery waits for its end.
    in_block: AtomicBool,
    /// This session's process id (BackendKeyData), once authenticated.
    pid: AtomicI32,
    /// The channels the session listens on: what waits for a channel it
    /// has since stopped listening on is not delivered.
    listening: Mutex<std::collections::HashSet<String>>,
}

impl Mailbox {
    pub fn set_pid(&self, pid: i32) {
        self.pid.store(pid, Ordering::Relaxed);
    }

    fn pid(&self) -> i32 {
        self.pid.load(Ordering::Relaxed)
    }

    fn put(&self, notification: Notification) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() >= MAILBOX_LIMIT {
            tracing::warn!(channel = %notification.channel, "a session's unread notifications are full: one dropped");
            return;
        }
        queue.push_back(notification);
        drop(queue);
        self.arrived.notify_one();
    }

    fn set_in_block(&self, in_block: bool) {
        if self.in_block.swap(in_block, Ordering::AcqRel) && !in_block {
            self.arrived.notify_one();
        }
    }

    fn deliverable(&self) -> bool {
        !self.in_block.load(Ordering::Acquire)
            && !self.queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Returns once there are notifications to deliver now.
    pub async fn ready(&self) {
        while !self.deliverable() {
            self.arrived.notified().await;
        }
    }

    /// The notifications to deliver now, in order.
    pub fn take(&self) -> Vec<Notification> {
        if self.in_block.load(Ordering::Acquire) {
            return Vec::new();
        }
        let listening = self.listening.lock().unwrap_or_else(|e| e.into_inner());
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.drain(..).filter(|n| listening.contains(&n.channel)).collect()
    }

    fn listens(&self, channel: &str, listen: bool) {
        let mut listening = self.listening.lock().unwrap_or_else(|e| e.into_inner());
        match listen {
            true => listening.insert(channel.to_string()),
            false => listening.remove(channel),
        };
    }
}

/// Which sessions listen on each channel, and the bus to Redis.
#[derive(Default)]
pub(crate) struct Channels {
    listening: Mutex<HashMap<String, HashMap<u64, Arc<Mailbox>>>>,
    bus: Bus,
}

impl Channels {
    pub fn with_bus(bus: Bus) -> Self {
        Channels { listening: Mutex::default(), bus }
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Delivers to the sessions listening on `channel` on this node.
    pub fn deliver(&self, notification: &Notification) {
        let listening = self.listening.lock().unwrap_or_else(|e| e.into_inner());
        for mailbox in listening.get(&notification.channel).into_iter().flat_map(|m| m.values()) {
            mailbox.put(notification.clone());
        }
    }

    fn listen(&self, session: u64, channel: String, mailbox: &Arc<Mailbox>) {
        let mut listening = self.listening.lock().unwrap_or_else(|e| e.into_inner());
        mailbox.listens(&channel, true);
        listening.entry(channel).or_default().insert(session, mailbox.clone());
    }

    fn unlisten(&self, session: u64, channel: Option<&str>) {
        let mut listening = self.listening.lock().unwrap_or_else(|e| e.into_inner());
        match channel {
            Some(channel) => {
                if let Some(sessions) = listening.get_mut(channel) {
                    if let Some(mailbox) = sessions.remove(&session) {
                        mailbox.listens(channel, false);
                    }
                    if sessions.is_empty() {
                        listening.remove(channel);
                    }
                }
            }
            None => listening.retain(|channel, sessions| {
                if let Some(mailbox) = sessions.remove(&session) {
                    mailbox.listens(channel, false);
                }
                !sessions.is_empty()
            }),
        }
    }

    /// The channels `session` listens on, sorted (`pg_listening_channels`).
    #[cfg(test)]
    fn of(&self, session: u64) -> Vec<String> {
        let listening = self.listening.lock().unwrap_or_else(|e| e.into_inner());
        let mut channels: Vec<String> =
            listening.iter().filter(|(_, s)| s.contains_key(&session)).map(|(c, _)| c.clone()).collect();
        channels.sort();
        channels
    }
}

/// What a transaction asked of the channels, applied when it commits.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pending {
    /// NOTIFYs in order, without repeats.
    notifies: Vec<(String, String)>,
    /// LISTEN (`Some(true)`), UNLISTEN (`Some(false)`) of a channel, or
    /// UNLISTEN * (`None` channel), in order.
    listens: Vec<(Option<String>, bool)>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.notifies.is_empty() && self.listens.is_empty()
    }
}

impl<G: ActorGateway> Engine<G> {
    /// LISTEN, UNLISTEN, NOTIFY: recorded in the transaction.
    pub(super) fn channel_statement(&self, statement: Statement, txn: &mut Txn) -> Result<Outcome> {
        match statement {
            Statement::LISTEN { channel } => {
                self.mailbox_or_refuse("LISTEN")?;
                txn.channels.listens.push((Some(ident(&channel)), true));
                Ok(Outcome::Done("LISTEN".into()))
            }
            Statement::UNLISTEN { channel } => {
                let channel =
                    (channel.value != "*" || channel.quote_style.is_some()).then(|| ident(&channel));
                txn.channels.listens.push((channel, false));
                Ok(Outcome::Done("UNLISTEN".into()))
            }
            Statement::NOTIFY { channel, payload } => {
                notify(txn, ident(&channel), payload.unwrap_or_default())?;
                Ok(Outcome::Done("NOTIFY".into()))
            }
            other => Err(unsupported(format_args!("the statement \"{}\"", first_words(&other.to_string())))),
        }
    }

    /// `SELECT pg_notify('channel', 'payload') [, ...]` without FROM:
    /// recorded in the transaction; one row of empty (void) values.
    pub(super) fn pg_notify(&self, query: &ast::Query, txn: &mut Txn) -> Result<Option<Outcome>> {
        let Some(calls) = pg_notify_calls(query) else { return Ok(None) };
        let mut columns = Vec::with_capacity(calls.len());
        for args in calls {
            let [channel, payload] = args.as_slice() else {
                return Err(error(
                    Code::UndefinedFunction,
                    "function pg_notify takes a channel and a payload",
                ));
            };
            let channel = match constant(channel)? {
                Literal::String(channel) if !channel.is_empty() => channel,
                _ => return Err(error(Code::InvalidParameterValue, "channel name cannot be empty")),
            };
            let payload = match constant(payload)? {
                Literal::Null => String::new(),
                Literal::String(p) | Literal::Number(p) => p,
                Literal::Bool(b) => b.to_string(),
            };
            notify(txn, channel, payload)?;
            columns.push(("pg_notify".to_string(), SqlType::Text));
        }
        let row = vec![Json::String(String::new()); columns.len()];
        Ok(Some(Outcome::Rows(Rows { columns, rows: vec![row] }, "SELECT".into())))
    }

    fn mailbox_or_refuse(&self, what: &str) -> Result<&Arc<Mailbox>> {
        self.mailbox
            .as_ref()
            .ok_or_else(|| unsupported(format_args!("{what} outside a PostgreSQL connection")))
    }

    /// After a commit: the transaction's LISTENs apply and its NOTIFYs go
    /// to this node's listeners, to Redis subscribers and to the cluster's
    /// other nodes.
    pub(super) fn committed_channels(&self, pending: Pending) {
        for (channel, listen) in pending.listens {
            match (channel, listen, self.mailbox.as_ref()) {
                (Some(channel), true, Some(mailbox)) => self.channels.listen(self.id, channel, mailbox),
                (channel, false, _) => self.channels.unlisten(self.id, channel.as_deref()),
                _ => {}
            }
        }
        let pid = self.mailbox.as_ref().map_or(0, |m| m.pid());
        for (channel, payload) in pending.notifies {
            let notification = Notification { pid, channel, payload };
            self.channels.deliver(&notification);
            let (channel, message) = (Bytes::from(notification.channel), Bytes::from(notification.payload));
            self.channels.bus().publish(Door::Postgres, channel.clone(), message.clone());
            self.gateway.relay_published(orbit_shared::Published { channel, message, sharded: false });
        }
    }

    /// Tells the mailbox whether the session is inside a block.
    pub(super) fn note_block(&self, state: &TxnState) {
        if let Some(mailbox) = &self.mailbox {
            mailbox.set_in_block(!matches!(state, TxnState::Autocommit));
        }
    }
}

impl<G> Engine<G> {
    /// The session ends: it listens no more.
    pub(super) fn stop_listening(&self) {
        if self.mailbox.is_some() {
            self.channels.unlisten(self.id, None);
        }
    }
}

/// Records a NOTIFY: an empty channel is `22023`, a payload of 8000 bytes or
/// more `22023`, and an identical one already recorded is not repeated.
fn notify(txn: &mut Txn, channel: String, payload: String) -> Result<()> {
    if channel.is_empty() {
        return Err(error(Code::InvalidParameterValue, "channel name cannot be empty"));
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(error(Code::InvalidParameterValue, "payload string too long"));
    }
    let entry = (channel, payload);
    if !txn.channels.notifies.contains(&entry) {
        txn.channels.notifies.push(entry);
    }
    Ok(())
}

/// The arguments of each `pg_notify(...)` of a query that is only such
/// calls (`SELECT pg_notify(a, b), ...` without FROM).
pub(crate) fn pg_notify_calls(query: &ast::Query) -> Option<Vec<Vec<Expr>>> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    if !select.from.is_empty() || select.selection.is_some() || query.with.is_some() {
        return None;
    }
    let mut calls = Vec::new();
    for item in &select.projection {
        let (SelectItem::UnnamedExpr(Expr::Function(f))
        | SelectItem::ExprWithAlias { expr: Expr::Function(f), .. }) = item
        else {
            return None;
        };
        let name = f.name.to_string().to_lowercase();
        if name.trim_start_matches("pg_catalog.") != "pg_notify" {
            return None;
        }
        let ast::FunctionArguments::List(list) = &f.args else { return None };
        let args = list
            .args
            .iter()
            .map(|a| match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        calls.push(args);
    }
    Some(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(channel: &str, payload: &str) -> Notification {
        Notification { pid: 7, channel: channel.into(), payload: payload.into() }
    }

    #[tokio::test]
    async fn listeners_get_their_channels_in_order_and_nothing_inside_a_block() {
        let channels = Channels::default();
        let (a, b) = (Arc::new(Mailbox::default()), Arc::new(Mailbox::default()));
        channels.listen(1, "jobs".into(), &a);
        channels.listen(2, "jobs".into(), &b);
        channels.listen(2, "other".into(), &b);
        assert_eq!(channels.of(2), ["jobs", "other"]);
        b.set_in_block(true);
        for payload in ["1", "2"] {
            channels.deliver(&note("jobs", payload));
        }
        channels.deliver(&note("nobody", "x"));
        assert_eq!(a.take(), [note("jobs", "1"), note("jobs", "2")]);
        assert!(b.take().is_empty(), "delivered inside a transaction block");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), b.ready()).await;
        assert!(waiting.is_err(), "ready inside a transaction block");
        b.set_in_block(false);
        tokio::time::timeout(std::time::Duration::from_secs(1), b.ready())
            .await
            .expect("ready after the block");
        assert_eq!(b.take().len(), 2);
        channels.unlisten(2, None);
        assert!(channels.of(2).is_empty());
        channels.unlisten(1, Some("jobs"));
        channels.deliver(&note("jobs", "3"));
        assert!(a.take().is_empty());
    }
}
